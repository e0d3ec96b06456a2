//! `rollouts-dashboard sim` as a separate process, driven by kubectl (which
//! these machines carry): get, get -w, patch and patch --subresource=status,
//! on exactly the objects loaded with `--manifests`.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

struct SimProcess {
    child: Child,
    kubeconfig: PathBuf,
}

impl Drop for SimProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.kubeconfig);
    }
}

fn start_sim(manifests: &str) -> SimProcess {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(manifests);
    start_sim_with(&dir, &[])
}

/// The sim on `dir`, with `extra` arguments (e.g. `--users FILE`).
fn start_sim_with(dir: &std::path::Path, extra: &[&str]) -> SimProcess {
    let mut args: Vec<std::ffi::OsString> = vec!["--no-controller".into(), "--manifests".into()];
    args.push(dir.into());
    args.extend(extra.iter().map(Into::into));
    spawn_sim(&args)
}

/// `sim --listen 127.0.0.1:0 ARGS`, once it listens.
fn spawn_sim(args: &[std::ffi::OsString]) -> SimProcess {
    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let kubeconfig =
        std::env::temp_dir().join(format!("rd-sim-{}-{n}.kubeconfig", std::process::id()));
    let _ = std::fs::remove_file(&kubeconfig);
    let child = Command::new(env!("CARGO_BIN_EXE_rollouts-dashboard"))
        .args(["sim", "--listen", "127.0.0.1:0"])
        .args(args)
        .arg("--kubeconfig-out")
        .arg(&kubeconfig)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("the binary starts");
    let sim = SimProcess { child, kubeconfig };
    // The kubeconfig is written (atomically) once the server listens.
    let deadline = Instant::now() + Duration::from_secs(20);
    while !sim.kubeconfig.exists() {
        assert!(
            Instant::now() < deadline,
            "sim did not write its kubeconfig within 20 s"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    sim
}

fn kubectl(sim: &SimProcess, args: &[&str]) -> Output {
    Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(&sim.kubeconfig)
        .args(["--request-timeout", "10s"])
        .args(args)
        .output()
        .expect("kubectl is installed on these machines")
}

fn ok(out: Output) -> String {
    assert!(
        out.status.success(),
        "kubectl failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn sim_serves_exactly_the_loaded_manifests() {
    let sim = start_sim("argo-info/canary");
    let names = ok(kubectl(
        &sim,
        &["get", "rollouts", "-n", "jesse-test", "-o", "name"],
    ));
    let mut names: Vec<&str> = names.lines().collect();
    names.sort();
    assert_eq!(
        names,
        [
            "rollout.argoproj.io/canary-demo",
            "rollout.argoproj.io/canary-demo-pingpong",
            "rollout.argoproj.io/canary-demo-weights",
            "rollout.argoproj.io/canary-demo-weights-na",
            "rollout.argoproj.io/canary-demo-workloadRef",
            "rollout.argoproj.io/canary-demo-workloadRef-deploy",
        ]
    );
    assert_eq!(
        ok(kubectl(&sim, &["get", "pods", "-A", "-o", "name"]))
            .lines()
            .count(),
        6
    );
    // As-is: uid, ownerReferences, timestamps and status are those of the files.
    let rs = ok(kubectl(
        &sim,
        &[
            "get",
            "rs",
            "canary-demo-65fb5ffc84",
            "-n",
            "jesse-test",
            "-o",
            "jsonpath={.metadata.uid} {.metadata.ownerReferences[0].uid} {.metadata.creationTimestamp}",
        ],
    ));
    assert_eq!(
        rs,
        "bd2a2b70-f93e-11e9-a15b-42010aa80033 b350ba76-f6ed-11e9-a15b-42010aa80033 2019-10-28T04:52:26Z"
    );
    let status = ok(kubectl(
        &sim,
        &[
            "get",
            "rollout",
            "canary-demo",
            "-n",
            "jesse-test",
            "-o",
            "jsonpath={.status.currentPodHash}",
        ],
    ));
    assert_eq!(status, "65fb5ffc84");
}

#[test]
fn kubectl_patches_main_and_status_and_watches() {
    let sim = start_sim("argo-info/blue-green");
    let mut watch = Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(&sim.kubeconfig)
        // The timeout ends the watch (and this test) even if no event comes.
        .args([
            "--request-timeout",
            "20s",
            "get",
            "rollouts",
            "-n",
            "jesse-test",
            "-w",
            "-o",
            "jsonpath={.metadata.name} {.spec.paused}{\"\\n\"}",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(watch.stdout.take().unwrap()).lines();
    let first = lines.next().unwrap().unwrap();
    assert_eq!(first.trim(), "bluegreen-demo");

    ok(kubectl(
        &sim,
        &[
            "patch",
            "rollout",
            "bluegreen-demo",
            "-n",
            "jesse-test",
            "--type",
            "merge",
            "-p",
            r#"{"spec":{"paused":true}}"#,
        ],
    ));
    let next = lines.next().unwrap().unwrap();
    assert_eq!(next.trim(), "bluegreen-demo true");
    let _ = watch.kill();
    let _ = watch.wait();

    // Status subresource: only status changes.
    ok(kubectl(
        &sim,
        &[
            "patch",
            "rollout",
            "bluegreen-demo",
            "-n",
            "jesse-test",
            "--subresource=status",
            "--type",
            "merge",
            "-p",
            r#"{"status":{"pauseConditions":null},"spec":{"paused":false}}"#,
        ],
    ));
    let after = ok(kubectl(
        &sim,
        &[
            "get",
            "rollout",
            "bluegreen-demo",
            "-n",
            "jesse-test",
            "-o",
            "jsonpath={.spec.paused} {.status.pauseConditions} {.status.controllerPause}",
        ],
    ));
    assert_eq!(after, "true  true");
}

/// With `--users`, the sim serves HTTPS (client-go sends credentials only
/// over TLS), writes a context per user, and kubectl meets RBAC.
#[test]
fn with_users_kubectl_signs_in_and_meets_rbac() {
    let team = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/multi-team");
    let users = team.join("users.csv");
    let users = users.to_str().expect("a UTF-8 path");
    let sim = start_sim_with(&team, &["--users", users]);
    let mine = ok(kubectl(
        &sim,
        &[
            "--context",
            "alice",
            "get",
            "rollouts.argoproj.io",
            "-n",
            "team-a",
            "-o",
            "name",
        ],
    ));
    assert_eq!(mine.trim(), "rollout.argoproj.io/web");
    let theirs = kubectl(
        &sim,
        &[
            "--context",
            "alice",
            "get",
            "rollouts.argoproj.io",
            "-n",
            "team-b",
        ],
    );
    assert!(!theirs.status.success());
    assert!(
        String::from_utf8_lossy(&theirs.stderr).contains(
            "rollouts.argoproj.io is forbidden: User \"alice\" cannot list resource \"rollouts\" in API group \"argoproj.io\" in the namespace \"team-b\""
        ),
        "{}",
        String::from_utf8_lossy(&theirs.stderr)
    );
    let bobs = ok(kubectl(
        &sim,
        &[
            "--context",
            "bob",
            "get",
            "rollouts.argoproj.io",
            "-n",
            "team-b",
            "-o",
            "name",
        ],
    ));
    assert_eq!(bobs.trim(), "rollout.argoproj.io/api", "viewers see team-b");
    let patch = kubectl(
        &sim,
        &[
            "--context",
            "bob",
            "patch",
            "rollouts.argoproj.io",
            "api",
            "-n",
            "team-b",
            "--subresource=status",
            "--type=merge",
            "-p",
            r#"{"status":{"message":"x"}}"#,
        ],
    );
    assert!(!patch.status.success(), "viewers may not patch");
}

#[test]
fn kubectl_sees_what_the_controller_wrote_into_each_router() {
    // The seed scenario with its controller: every canary at its first pause.
    let sim = spawn_sim(&[]);
    let deadline = Instant::now() + Duration::from_secs(20);
    let jsonpath = |args: &[&str]| {
        let out = kubectl(&sim, args);
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let weight_path =
        r"jsonpath={.metadata.annotations.nginx\.ingress\.kubernetes\.io/canary-weight}";
    while jsonpath(&[
        "get",
        "ingress",
        "storefront-storefront-canary",
        "-n",
        "nginx-demo",
        "-o",
        weight_path,
    ]) != "20"
    {
        assert!(
            Instant::now() < deadline,
            "the canary Ingress never reached 20"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let ingresses = ok(kubectl(&sim, &["get", "ingress", "-n", "nginx-demo"]));
    assert!(
        ingresses.contains("storefront-storefront-canary"),
        "{ingresses}"
    );
    let backend = ok(kubectl(
        &sim,
        &[
            "get",
            "ingress",
            "storefront-storefront-canary",
            "-n",
            "nginx-demo",
            "-o",
            "jsonpath={.spec.rules[0].host} {.spec.rules[0].http.paths[0].backend.service.name}",
        ],
    ));
    assert_eq!(backend, "storefront.example.com storefront-canary");

    let action = ok(kubectl(
        &sim,
        &[
            "get",
            "ingress",
            "payments",
            "-n",
            "alb-demo",
            "-o",
            r"jsonpath={.metadata.annotations.alb\.ingress\.kubernetes\.io/actions\.payments-root}",
        ],
    ));
    let action: serde_json::Value = serde_json::from_str(&action).unwrap_or_default();
    assert_eq!(
        action["ForwardConfig"]["TargetGroups"],
        serde_json::json!([
            {"ServiceName": "payments-canary", "ServicePort": "80", "Weight": 10},
            {"ServiceName": "payments-stable", "ServicePort": "80", "Weight": 90}
        ])
    );

    let routes = ok(kubectl(&sim, &["get", "httproutes", "-n", "gateway-demo"]));
    assert!(routes.contains("catalog"), "{routes}");
    let weights = ok(kubectl(
        &sim,
        &[
            "get",
            "httproute",
            "catalog",
            "-n",
            "gateway-demo",
            "-o",
            "jsonpath={.spec.rules[0].backendRefs[*].weight}",
        ],
    ));
    assert_eq!(weights, "70 30");
}

/// `kubectl get` until `jsonpath` of the seed rollout reads `want`.
fn until_rollout(sim: &SimProcess, jsonpath: &str, want: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let out = kubectl(
            sim,
            &[
                "get",
                "rollout",
                "manifest-gen",
                "-n",
                "manifest-gen",
                "-o",
                &format!("jsonpath={jsonpath}"),
            ],
        );
        let got = String::from_utf8_lossy(&out.stdout).into_owned();
        if got == want {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{jsonpath} never read {want:?}; last {got:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Promote-full on the seed's paused canary ends Healthy at the last step
/// with no pause left (Argo: rollout/canary.go), and a rollback to the
/// first revision (the JSON patch `kubectl argo rollouts undo` sends)
/// renumbers its ReplicaSet as the newest revision, the old number kept in
/// `rollout.argoproj.io/revision-history` (rollout/sync.go).
#[test]
fn promote_full_ends_healthy_and_a_rollback_renumbers_through_kubectl() {
    let sim = spawn_sim(&[]);
    until_rollout(
        &sim,
        "{.status.phase}/{.status.currentStepIndex}",
        "Paused/1",
    );
    ok(kubectl(
        &sim,
        &[
            "patch",
            "rollout",
            "manifest-gen",
            "-n",
            "manifest-gen",
            "--subresource=status",
            "--type=merge",
            "-p",
            r#"{"status":{"promoteFull":true}}"#,
        ],
    ));
    until_rollout(
        &sim,
        "{.status.phase}/{.status.currentStepIndex}/{.status.controllerPause}{.status.pauseConditions}",
        "Healthy/5/",
    );
    until_rollout(
        &sim,
        "{.metadata.annotations.rollout\\.argoproj\\.io/revision}",
        "2",
    );

    // The first revision's template, without the hash label, as undo sends it.
    let sets: serde_json::Value = serde_json::from_str(&ok(kubectl(
        &sim,
        &["get", "replicasets", "-n", "manifest-gen", "-o", "json"],
    )))
    .expect("a list");
    let first = sets["items"]
        .as_array()
        .and_then(|items| {
            items
                .iter()
                .find(|rs| rs["metadata"]["annotations"]["rollout.argoproj.io/revision"] == "1")
        })
        .expect("revision 1")
        .clone();
    let mut template = first["spec"]["template"].clone();
    if let Some(labels) = template["metadata"]["labels"].as_object_mut() {
        labels.remove("rollouts-pod-template-hash");
    }
    let patch = serde_json::json!([{"op": "replace", "path": "/spec/template", "value": template}]);
    ok(kubectl(
        &sim,
        &[
            "patch",
            "rollout",
            "manifest-gen",
            "-n",
            "manifest-gen",
            "--type=json",
            "-p",
            &patch.to_string(),
        ],
    ));
    until_rollout(
        &sim,
        "{.metadata.annotations.rollout\\.argoproj\\.io/revision}",
        "3",
    );
    let name = first["metadata"]["name"].as_str().expect("a name");
    let renumbered = ok(kubectl(
        &sim,
        &[
            "get",
            "replicaset",
            name,
            "-n",
            "manifest-gen",
            "-o",
            r"jsonpath={.metadata.annotations.rollout\.argoproj\.io/revision}/{.metadata.annotations.rollout\.argoproj\.io/revision-history}",
        ],
    ));
    assert_eq!(
        renumbered, "3/1",
        "the reused ReplicaSet is the newest revision"
    );
    // Back to an older template than the stable one: a canary from step 0.
    until_rollout(
        &sim,
        "{.status.phase}/{.status.currentStepIndex}",
        "Paused/1",
    );
}

/// Polls `kubectl ARGS` until `ok` holds for its output; that output.
fn until_kubectl(sim: &SimProcess, args: &[&str], what: &str, ok: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let out = kubectl(sim, args);
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        if out.status.success() && ok(&text) {
            return text;
        }
        assert!(
            Instant::now() < deadline,
            "gave up waiting for {what}: {text} {}",
            String::from_utf8_lossy(&out.stderr)
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn kubectl_logs_reads_what_the_canary_writes_and_follows_it() {
    let sim = spawn_sim(&[]);
    until_rollout(
        &sim,
        "{.status.phase}/{.status.currentStepIndex}",
        "Paused/1",
    );
    let hash = ok(kubectl(
        &sim,
        &[
            "get",
            "rollout",
            "manifest-gen",
            "-n",
            "manifest-gen",
            "-o",
            "jsonpath={.status.currentPodHash}",
        ],
    ));
    let selector = format!("rollouts-pod-template-hash={hash}");
    let pods = until_kubectl(
        &sim,
        &[
            "get",
            "pods",
            "-n",
            "manifest-gen",
            "-l",
            &selector,
            "-o",
            "name",
        ],
        "a canary pod",
        |t| !t.trim().is_empty(),
    );
    let pod = pods.lines().next().unwrap_or_default().to_string();
    // The container starts, then logs a sample of the requests it serves.
    let lines = until_kubectl(
        &sim,
        &["logs", "-n", "manifest-gen", &pod],
        "a few requests in the canary's log",
        |t| t.lines().filter(|l| l.contains("method=GET")).count() >= 4,
    );
    assert!(
        lines
            .lines()
            .next()
            .is_some_and(|l| l.contains("listening on :8080")),
        "{lines}"
    );
    let tail = ok(kubectl(
        &sim,
        &[
            "logs",
            "-n",
            "manifest-gen",
            &pod,
            "--tail=3",
            "--timestamps",
        ],
    ));
    let tail: Vec<&str> = tail.lines().collect();
    assert_eq!(tail.len(), 3, "{tail:?}");
    for line in &tail {
        let (at, rest) = line.split_once(' ').unwrap_or_default();
        assert!(at.parse::<jiff::Timestamp>().is_ok(), "{line}");
        // The seed's canary fails 0.2% of its requests, as its stable does.
        assert!(
            rest.contains("method=GET")
                && (rest.contains("status=200") || rest.contains("status=503")),
            "an access-log line: {line}"
        );
    }
    let previous = kubectl(&sim, &["logs", "-n", "manifest-gen", &pod, "--previous"]);
    assert!(!previous.status.success());
    assert!(
        String::from_utf8_lossy(&previous.stderr).contains("previous terminated container"),
        "{}",
        String::from_utf8_lossy(&previous.stderr)
    );
    // Following: lines written after the call arrive on the open stream.
    let mut follow = Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(&sim.kubeconfig)
        .args([
            "--request-timeout",
            "20s",
            "logs",
            "-f",
            "--tail=0",
            "-n",
            "manifest-gen",
        ])
        .arg(&pod)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("kubectl starts");
    let started = Instant::now();
    let mut stream = BufReader::new(follow.stdout.take().expect("its output")).lines();
    let fresh: Vec<String> = (0..3)
        .map(|_| stream.next().and_then(Result::ok).unwrap_or_default())
        .collect();
    let _ = follow.kill();
    let _ = follow.wait();
    assert!(
        fresh.iter().all(|l| l.contains("method=GET")),
        "{fresh:?} after {:?}",
        started.elapsed()
    );
}

#[test]
fn kubectl_logs_needs_the_right_to_read_pod_logs() {
    let team = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/multi-team");
    let users = team.join("users.csv");
    let sim = spawn_sim(&[
        "--manifests".into(),
        team.into_os_string(),
        "--users".into(),
        users.into_os_string(),
    ]);
    let pods = until_kubectl(
        &sim,
        &[
            "--context",
            "alice",
            "get",
            "pods",
            "-n",
            "team-a",
            "-o",
            "name",
        ],
        "a pod of team-a",
        |t| !t.trim().is_empty(),
    );
    let pod = pods.lines().next().unwrap_or_default().to_string();
    // team-a may read its pods, but nobody granted it pods/log.
    let logs = kubectl(&sim, &["--context", "alice", "logs", "-n", "team-a", &pod]);
    assert!(!logs.status.success());
    let said = String::from_utf8_lossy(&logs.stderr);
    assert!(
        said.contains("User \"alice\" cannot get resource \"pods/log\" in API group \"\" in the namespace \"team-a\""),
        "{said}"
    );
}
