"""Render and check the Helm chart, as CI does without a helm binary.

For each values file in charts/rollouts-dashboard/ci/: strict `helm lint`
(Helm's Go SDK through helm-python-sdk), render, validate every manifest of
a built-in kind with kubernetes-validate --strict, and check what the chart
promises: least-privilege RBAC (no write verb when readonly), probes on the
admin port, the base path routed. Also: the schema rejects a wrong type.
Prints one line per check; exits 1 on any failure. With --dump DIR, also
writes each values file's RBAC objects (and the ServiceAccount's name) to
DIR/<name>.yaml, for tests that load them into the simulated cluster.

    python tools/chart_check.py [CHART_DIR] [--dump DIR]
"""

import pathlib
import sys

import kubernetes_validate
import yaml
from helm_python import chart as helm

KUBE_VERSION = "1.33.0"
WRITE_VERBS = {"create", "update", "patch", "delete", "deletecollection"}
failures = []


def check(ok, what):
    print(("ok   " if ok else "FAIL ") + what)
    if not ok:
        failures.append(what)


def render(path, values):
    c = helm.Chart.load(path)
    out = c.render(values, name="rd", namespace="dashboards", is_install=True)
    docs = []
    for template, text in sorted(out.items()):
        if not template.endswith(".yaml"):
            continue
        docs.extend(d for d in yaml.safe_load_all(text) if d)
    return docs


def is_lease_role(d):
    return d["kind"] == "Role" and d["metadata"]["name"].endswith("-history-lease")


def is_argocd_role(d):
    return d["kind"] == "Role" and d["metadata"]["name"].endswith("-argocd-clusters")


def rules_of(docs):
    """The rules for what the dashboard shows and does (the history Lease's
    Role and the Argo CD Secrets' Role are checked on their own)."""
    return [r for d in docs if d["kind"] in ("ClusterRole", "Role") and not is_lease_role(d)
            and not is_argocd_role(d) for r in d.get("rules", [])]


RBAC_KINDS = {"ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding"}


def main(chart_dir, dump=None):
    chart = pathlib.Path(chart_dir)
    for values_file in sorted((chart / "ci").glob("*-values.yaml")):
        name = values_file.name.removesuffix("-values.yaml")
        values = yaml.safe_load(values_file.read_text()) or {}
        mode = (values.get("auth") or {}).get("mode", "none")
        report = helm.lint(str(chart), values, strict=True, kube_version="v" + KUBE_VERSION)
        problems = [m for m in report.get("messages", []) if m.get("severity", 0) >= 2]
        problems += report.get("errors") or []
        check(not problems, f"{name}: helm lint --strict {problems or ''}")
        docs = render(str(chart), values)
        check(bool(docs), f"{name}: renders {len(docs)} manifests")
        for d in docs:
            kind = d["kind"]
            try:
                kubernetes_validate.validate(d, KUBE_VERSION, strict=True)
                check(True, f"{name}: {kind} {d['metadata']['name']} validates (strict)")
            except kubernetes_validate.SchemaNotFoundError:
                # CRD kinds (Istio, Gateway API, Prometheus Operator) have no
                # built-in schema; their shape is checked below where it matters.
                print(f"skip {name}: {kind} has no built-in schema")
            except kubernetes_validate.ValidationError as e:
                check(False, f"{name}: {kind} {d['metadata']['name']}: {e.message}")

        if dump:
            sa = next(d for d in docs if d["kind"] == "ServiceAccount")
            rbac = [d for d in docs if d["kind"] in RBAC_KINDS]
            out = pathlib.Path(dump) / f"{name}.yaml"
            out.write_text(f"# serviceAccount: system:serviceaccount:{sa['metadata']['namespace']}:{sa['metadata']['name']}\n"
                           + yaml.safe_dump_all(rbac))

        kinds = {d["kind"] for d in docs}
        rules = rules_of(docs)
        verbs = {v for r in rules for v in r["verbs"]}
        patched = {res for r in rules if "patch" in r["verbs"] for res in r["resources"]}
        creates = {res for r in rules if "create" in r["verbs"] for res in r["resources"]}
        impersonates = {res for r in rules if "impersonate" in r["verbs"] for res in r["resources"]}
        reviews = {"subjectaccessreviews"} | ({"tokenreviews"} if mode == "token" else set())
        if values.get("readonly"):
            check(not (verbs & (WRITE_VERBS - {"create"})) and creates <= reviews and not impersonates,
                  f"{name}: no write verb at all ({sorted(verbs & WRITE_VERBS)})")
        elif mode == "none":
            check({"rollouts", "rollouts/status", "deployments"} <= patched,
                  f"{name}: patch on rollouts, rollouts/status, deployments")
            check(creates == {"events"}, f"{name}: create only on events ({sorted(creates)})")
        else:
            check(not patched and not (verbs & {"update", "delete", "deletecollection"}),
                  f"{name}: auth {mode}: the ServiceAccount patches nothing itself ({sorted(patched)})")
            check(creates == {"events"} | reviews,
                  f"{name}: auth {mode}: create only on events and {', '.join(sorted(reviews))} ({sorted(creates)})")
        check((impersonates == {"users", "groups"}) == (mode in ("proxy", "oidc") and not values.get("readonly")),
              f"{name}: impersonate only in proxy and oidc modes ({sorted(impersonates)})")
        limited = (values.get("auth") or {}).get("impersonableGroups") or []
        if impersonates and limited:
            group_rules = [r for r in rules if "impersonate" in r["verbs"] and "groups" in r["resources"]]
            check(all(r.get("resourceNames") == limited and r["resources"] == ["groups"] for r in group_rules),
                  f"{name}: only the groups {limited} may be impersonated")
        read = {res for r in rules if "watch" in r["verbs"] for res in r["resources"]}
        check({"rollouts", "analysisruns", "experiments", "replicasets", "pods", "events",
               "virtualservices", "destinationrules", "deployments", "ingresses",
               "httproutes", "grpcroutes", "tcproutes", "tlsroutes"} <= read, f"{name}: watch on every kind shown")
        namespaces = values.get("watchNamespaces") or []
        if namespaces:
            roles = sorted(d["metadata"]["namespace"] for d in docs
                           if d["kind"] == "Role" and not is_lease_role(d) and not is_argocd_role(d))
            cluster_rules = [r for d in docs if d["kind"] == "ClusterRole" for r in d.get("rules", [])]
            cluster_resources = {res for r in cluster_rules for res in r["resources"]}
            check(roles == sorted(namespaces) and cluster_resources <= {"subjectaccessreviews", "tokenreviews", "users", "groups"},
                  f"{name}: a Role in each watched namespace, no ClusterRole"
                  + (" beyond the cluster-scoped auth reviews" if cluster_rules else ""))
        else:
            check("ClusterRole" in kinds and "ClusterRoleBinding" in kinds, f"{name}: a ClusterRole")

        deploy = next(d for d in docs if d["kind"] == "Deployment")
        container = deploy["spec"]["template"]["spec"]["containers"][0]
        admin = next(p for p in container["ports"] if p["name"] == "admin")
        probes = [container["livenessProbe"]["httpGet"], container["readinessProbe"]["httpGet"]]
        check([p["path"] for p in probes] == ["/healthz", "/readyz"] and all(p["port"] == "admin" for p in probes),
              f"{name}: probes on the admin port")
        check(f"--admin-listen=0.0.0.0:{admin['containerPort']}" in container["args"],
              f"{name}: the server listens for probes on the admin port")
        sc = container["securityContext"]
        pod_sc = deploy["spec"]["template"]["spec"]["securityContext"]
        check(sc["readOnlyRootFilesystem"] and not sc["allowPrivilegeEscalation"]
              and sc["capabilities"]["drop"] == ["ALL"] and pod_sc["runAsUser"] == 1000
              and pod_sc["runAsNonRoot"], f"{name}: non-root, read-only, no capabilities")
        check(("--read-only" in container["args"]) == bool(values.get("readonly")),
              f"{name}: --read-only matches readonly")
        check(f"--auth={mode}" in container["args"], f"{name}: --auth={mode}")
        argo = values.get("argocdClusterSecrets")
        secret_rules = [(d["kind"], d["metadata"].get("namespace"), r) for d in docs
                        if d["kind"] in ("ClusterRole", "Role") for r in d.get("rules", [])
                        if "secrets" in r.get("resources", [])]
        if argo:
            selector = values.get("argocdClusterSelector")
            check(not selector or f"--argocd-cluster-selector={selector}" in container["args"],
                  f"{name}: only the Secrets {selector or 'of every shard'}")
            check(bool(secret_rules) and f"--argocd-cluster-secrets={argo}" in container["args"]
                  and all(k == "Role" and ns == argo and r["verbs"] == ["list"] for k, ns, r in secret_rules),
                  f"{name}: Argo CD's cluster Secrets: list in {argo} only")
        else:
            check(not secret_rules, f"{name}: no Secret readable")
        secret_mounts = values.get("argocdClusterSecretMounts") or []
        if secret_mounts:
            pod = deploy["spec"]["template"]["spec"]
            by_name = {v["name"]: v for v in pod.get("volumes", [])}
            mounted = {m["mountPath"]: by_name.get(m["name"], {}).get("secret", {}).get("secretName")
                       for m in container.get("volumeMounts", []) if m.get("readOnly")}
            folder = "/etc/rollouts-dashboard/argocd-clusters"
            check(f"--argocd-cluster-dir={folder}" in container["args"]
                  and all(mounted.get(f"{folder}/{s}") == s for s in secret_mounts),
                  f"{name}: Argo CD's cluster Secrets {secret_mounts} mounted, each its own folder")
        if mode == "proxy":
            trusted = [a for a in container["args"] if a.startswith("--trusted-proxy=")]
            check(trusted == [f"--trusted-proxy={c}" for c in values["auth"]["trustedProxies"]],
                  f"{name}: identity headers believed only from {values['auth']['trustedProxies']}")
        if mode == "oidc":
            o = values["auth"]["oidc"]
            env = {e["name"]: e for e in container.get("env", [])}
            secret = env.get("ROLLOUTS_DASHBOARD_OIDC_CLIENT_SECRET", {}).get("valueFrom", {}).get("secretKeyRef", {})
            check(secret.get("name") == o["clientSecret"]["existingSecret"],
                  f"{name}: the client secret comes from its Secret, not the arguments")
            check(not any("secret" in a.lower() and "session" not in a for a in container["args"]),
                  f"{name}: no secret on the command line")
            volumes = {v["name"]: v for v in deploy["spec"]["template"]["spec"].get("volumes", [])}
            check(volumes.get("session-key", {}).get("secret", {}).get("secretName") == o["sessionKey"]["existingSecret"],
                  f"{name}: the session key is mounted from its Secret")
            for flag in (f"--oidc-issuer-url={o['issuerUrl']}", f"--oidc-client-id={o['clientId']}",
                         f"--public-url={values['publicUrl']}", "--oidc-required-claim=hd=example.com"):
                check(flag in container["args"], f"{name}: {flag}")
        prom = values.get("prometheus") or {}
        prom_args = [a for a in container["args"] if a.startswith("--prometheus-")]
        if not prom.get("url"):
            check(not prom_args, f"{name}: no Prometheus flags without prometheus.url")
        else:
            check(f"--prometheus-url={prom['url']}" in prom_args
                  and f"--prometheus-window={prom.get('window', '1m')}" in prom_args,
                  f"{name}: --prometheus-url={prom['url']} over {prom.get('window', '1m')}")
            label = prom.get("clusterLabel")
            check(([f"--prometheus-cluster-label={label}", f"--prometheus-cluster={prom['cluster']}"] if label else [])
                  == [a for a in prom_args if a.startswith("--prometheus-cluster")],
                  f"{name}: each cluster's own series {'by ' + label if label else '(one cluster)'}")
            spec = deploy["spec"]["template"]["spec"]
            volumes = {v["name"]: v for v in spec.get("volumes", [])}
            mounts = {m["name"]: m["mountPath"] for m in container.get("volumeMounts", [])}
            token_flag = next((a for a in prom_args if a.startswith("--prometheus-bearer-token-file=")), "")
            token_secret = (prom.get("bearerToken") or {}).get("existingSecret")
            check(volumes.get("prometheus-token", {}).get("secret", {}).get("secretName") == token_secret
                  and token_flag.split("=", 1)[-1].startswith(mounts.get("prometheus-token", "?") + "/")
                  if token_secret else not token_flag,
                  f"{name}: the Prometheus token is a file from its Secret, not an argument")
            ca_flag = next((a for a in prom_args if a.startswith("--prometheus-ca-file=")), "")
            ca_secret = (prom.get("ca") or {}).get("existingSecret")
            check(volumes.get("prometheus-ca", {}).get("secret", {}).get("secretName") == ca_secret
                  and ca_flag.split("=", 1)[-1].startswith(mounts.get("prometheus-ca", "?") + "/")
                  if ca_secret else not ca_flag,
                  f"{name}: the Prometheus CA is mounted from its Secret")
            if values.get("networkPolicy", {}).get("egress", {}).get("enabled"):
                policy = next(d for d in docs if d["kind"] == "NetworkPolicy")
                egress = policy["spec"].get("egress", [])
                to_prometheus = [r for r in egress if [p["port"] for p in r.get("ports", [])] == [prom["port"]]]
                check("Egress" in policy["spec"]["policyTypes"] and len(to_prometheus) == 1
                      and to_prometheus[0].get("to") == prom["networkPolicyPeers"]
                      and any(53 in [p["port"] for p in r.get("ports", [])] for r in egress),
                      f"{name}: egress only to DNS, the API server and Prometheus on {prom['port']}")
        links = [a for a in container["args"] if a.startswith("--link=")]
        check(links == [f"--link={l}" for l in values.get("links") or []],
              f"{name}: a --link for each of links ({len(links)})")
        history = values.get("history") or {}
        database = history.get("database", "sqlite")
        pod_logs = bool(history.get("podLogs")) and database != "off"
        reads_logs = any("pods/log" in r["resources"] and r["verbs"] == ["get"] for r in rules)
        check(("--history-pod-logs=true" in container["args"]) == pod_logs,
              f"{name}: --history-pod-logs only with history.podLogs")
        check(reads_logs == (pod_logs or mode == "none"),
              f"{name}: get pods/log for its own account only with auth none or history.podLogs")
        pod_spec = deploy["spec"]["template"]["spec"]
        volumes = {v["name"]: v for v in pod_spec.get("volumes", [])}
        mounts = {m["name"]: m["mountPath"] for m in container.get("volumeMounts", [])}
        env = {e["name"]: e for e in container.get("env", [])}
        claims = [d for d in docs if d["kind"] == "PersistentVolumeClaim"]
        lease_roles = [d for d in docs if is_lease_role(d)]
        if database == "sqlite":
            mounted = mounts.get("history") == "/var/lib/rollouts-dashboard"
            check(mounted and "--data-dir=/var/lib/rollouts-dashboard" in container["args"]
                  and volumes.get("history", {}).get("persistentVolumeClaim", {}).get("claimName") == claims[0]["metadata"]["name"]
                  and deploy["spec"].get("strategy", {}).get("type") == "Recreate" and not lease_roles,
                  f"{name}: history in SQLite on its PersistentVolumeClaim, one pod at a time, no Lease")
        if database == "postgres":
            url = env.get("ROLLOUTS_DASHBOARD_HISTORY_DB", {}).get("valueFrom", {}).get("secretKeyRef", {})
            lease_rules = [r for d in lease_roles for r in d["rules"]]
            named = [r for r in lease_rules if r.get("resourceNames")]
            many = bool(values.get("argocdClusterSecrets") or values.get("argocdClusterSecretMounts"))
            check(url.get("name") == history["postgres"]["existingSecret"]
                  and not any(a.startswith("--history-db") for a in container["args"]),
                  f"{name}: the PostgreSQL URL comes from its Secret, not the arguments")
            check(not claims and "POD_NAMESPACE" in env and len(lease_roles) == 1
                  and lease_roles[0]["metadata"]["namespace"] == "dashboards"
                  and {v for r in lease_rules for v in r["verbs"]} == {"create", "get", "update"}
                  and all(r["resources"] == ["leases"] for r in lease_rules)
                  and (many or named)
                  and all(r["resourceNames"] == [history.get("leaseName", "rollouts-dashboard-history")] for r in named)
                  and all("create" not in r["verbs"] for r in named),
                  f"{name}: {deploy['spec']['replicas']} replicas share PostgreSQL; the Lease: create, get and update its own, nothing else"
                  + (" (a Lease per cluster: every Lease of its namespace)" if many else ""))

        if values.get("istio", {}).get("enabled"):
            vs = next(d for d in docs if d["kind"] == "VirtualService")
            prefix = vs["spec"]["http"][0]["match"][0]["uri"]["prefix"]
            check(prefix == values["basePath"] and f"--base-path={prefix}" in container["args"],
                  f"{name}: the VirtualService routes {prefix} and the server serves under it")
            check("AuthorizationPolicy" in kinds, f"{name}: an AuthorizationPolicy admits the gateway")

    try:
        render(str(chart), {"auth": {"mode": "proxy"}})
        check(False, "proxy mode without trustedProxies is refused")
    except Exception as e:  # the template's fail
        check("trustedProxies" in str(e), "proxy mode without trustedProxies is refused")

    try:
        render(str(chart), {"auth": {"mode": "oidc", "oidc": {"issuerUrl": "https://idp.example"}}})
        check(False, "oidc mode without its client, session key and public URL is refused")
    except Exception as e:  # the template's fail
        check("sessionKey" in str(e), "oidc mode without its client, session key and public URL is refused")

    try:
        render(str(chart), {"auth": {"mode": "proxy", "trustedProxies": ["10.0.0.0/8"]}})
        check(False, "proxy mode without impersonableGroups (or impersonateAnyGroup) is refused")
    except Exception as e:  # the template's fail
        check("impersonableGroups" in str(e),
              "proxy mode without impersonableGroups (or impersonateAnyGroup) is refused")
    docs = render(str(chart), {"auth": {"mode": "proxy", "trustedProxies": ["10.0.0.0/8"],
                                        "impersonateAnyGroup": True}})
    group_rules = [r for r in rules_of(docs) if "impersonate" in r["verbs"] and "groups" in r["resources"]]
    check(bool(group_rules) and all("resourceNames" not in r for r in group_rules),
          "impersonateAnyGroup: true is the only way to impersonate every group")

    try:
        helm.Chart.load(str(chart)).validate_schema({"replicaCount": "two"})
        check(False, "the schema rejects replicaCount: \"two\"")
    except Exception as e:  # the SDK's HelmValuesError
        check("replicaCount" in str(e), f"the schema rejects replicaCount: \"two\" ({type(e).__name__})")

    try:
        render(str(chart), {"argocdClusterSecrets": "argocd", "argocdClusterSecretMounts": ["c"]})
        check(False, "Argo CD's Secrets both listed and mounted is refused")
    except Exception as e:  # the template's fail
        check("choose one" in str(e), "Argo CD's Secrets both listed and mounted is refused")

    try:
        helm.Chart.load(str(chart)).validate_schema({"replicaCount": 2})
        check(False, "the schema refuses two replicas on SQLite")
    except Exception as e:  # the SDK's HelmValuesError
        check("history" in str(e) or "database" in str(e) or "replicaCount" in str(e),
              f"the schema refuses two replicas on SQLite ({type(e).__name__})")

    if failures:
        print(f"{len(failures)} check(s) failed")
        return 1
    return 0


if __name__ == "__main__":
    args = sys.argv[1:]
    dump = None
    if "--dump" in args:
        i = args.index("--dump")
        dump = args[i + 1]
        del args[i:i + 2]
    sys.exit(main(args[0] if args else "charts/rollouts-dashboard", dump))
