//! `--auth oidc` against a real OpenID provider that nobody here wrote
//! (oidc-provider-mock, over HTTPS, tools/oidc_provider.py) and the
//! simulated cluster with RBAC: ID tokens are verified here, claims become
//! users exactly as kube-apiserver's `--oidc-*` flags make them, and the
//! browser's sign-in leaves a sealed session any replica with the key reads.

use crate::harness;
use crate::http;
use crate::oidc_provider;
use crate::teams;
use crate::teams::DASHBOARD_SA;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use rollouts_dashboard::cli::{AuthMode, WebArgs};
use rollouts_dashboard::cluster::client::Scope;
use serde_json::{Value, json};
use teams::{Cluster, call, documents, exchange, fixtures, listed, step_of};

const CLIENT: &str = "rollouts-dashboard";

fn users() -> Vec<Value> {
    vec![
        json!({"sub": "alice", "email": "alice@example.com", "email_verified": true, "groups": ["team-a"], "hd": "example.com"}),
        json!({"sub": "carol", "email": "carol@example.com", "groups": ["team-b"]}),
        json!({"sub": "mallory", "email": "mallory@example.com", "email_verified": false, "groups": ["team-a"]}),
    ]
}

/// The two teams, plus a binding for the user `oidc:alice@example.com`
/// (kube-apiserver's mapping with prefixes) to view team-b.
async fn cluster() -> Cluster {
    let rbac = documents(&fixtures().join("dashboard-rbac.yaml"));
    let extra = vec![json!({
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding",
        "metadata": {"name": "prefixed-alice", "namespace": "team-b"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "rollouts-viewer"},
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "oidc:alice@example.com"}],
    })];
    teams::cluster(DASHBOARD_SA, rbac, extra).await
}

fn key_file(name: &str) -> PathBuf {
    let path = std::env::temp_dir().join(format!("rd-key-{name}-{}", std::process::id()));
    std::fs::write(
        &path,
        b"0123456789abcdef0123456789abcdef-shared-session-key",
    )
    .expect("key");
    path
}

fn oidc_web(p: &oidc_provider::Provider, port: u16, key: &Path) -> WebArgs {
    WebArgs {
        auth: AuthMode::Oidc,
        oidc_issuer_url: Some(p.issuer.clone()),
        oidc_client_id: Some(CLIENT.to_string()),
        oidc_client_secret: Some("s3cret".to_string()),
        oidc_ca_file: Some(p.ca_file.clone()),
        oidc_username_claim: "email".to_string(),
        oidc_groups_claim: Some("groups".to_string()),
        public_url: Some(format!("http://127.0.0.1:{port}")),
        session_key_file: Some(key.to_path_buf()),
        ..WebArgs::defaults()
    }
}

async fn dashboard(c: &Cluster, web: WebArgs, port: u16) -> String {
    teams::dashboard_with(
        c,
        Scope::AllNamespaces,
        SocketAddr::from(([127, 0, 0, 1], port)),
        web,
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn id_tokens_are_verified_and_act_as_their_person() {
    let p = oidc_provider::start("verify", &users());
    let c = cluster().await;
    let port = http::free_port();
    let key = key_file("verify");
    let d = dashboard(&c, oidc_web(&p, port, &key), port).await;

    let alice = format!("Bearer {}", p.id_token("alice", CLIENT).await);
    let h = [("Authorization", alice.as_str())];
    let (status, body) = call(&d, "GET", "/api/v1/rollouts/_all/info", &h, "").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(listed(&body), ["team-a/web"], "her groups claim decides");
    let (_, page) = call(&d, "GET", "/", &h, "").await;
    assert!(
        page.contains("Signed in as alice@example.com (team-a)"),
        "the email claim names her"
    );
    let (status, body) = call(&d, "PUT", "/api/v1/rollouts/team-a/web/promote", &h, "{}").await;
    assert_eq!(status, 200, "{body}");
    let patch = c
        .sim
        .requests()
        .into_iter()
        .find(|r| r.method == "PATCH" && r.path.contains("/rollouts/web"))
        .expect("the promote was sent");
    assert_eq!(patch.user.as_deref(), Some("alice@example.com"));
    assert_eq!(patch.impersonated_by.as_deref(), Some(DASHBOARD_SA));
    c.controller.settle(50);
    assert_eq!(step_of(&c.store, "team-a", "web"), 2);
    // Identity headers mean nothing in this mode.
    let forged_headers = [
        ("X-Forwarded-User", "alice@example.com"),
        ("X-Forwarded-Groups", "team-a"),
    ];
    assert_eq!(
        call(&d, "GET", "/api/v1/rollouts/_all/info", &forged_headers, "")
            .await
            .0,
        401
    );

    // What an attacker might bring instead: every one 401, none reaches RBAC.
    let reviews_before = c
        .sim
        .requests()
        .iter()
        .filter(|r| r.path.contains("subjectaccessreviews"))
        .count();
    for (kind, says) in [
        ("expired", "expired"),
        ("audience", "another client"),
        ("otherkey", "signature"),
        ("none", "none"),
        ("hs256", "HS256"),
    ] {
        let token = format!("Bearer {}", p.forged(kind, CLIENT).await);
        let (status, body) = call(
            &d,
            "GET",
            "/api/v1/rollouts/_all/info",
            &[("Authorization", token.as_str())],
            "",
        )
        .await;
        assert_eq!(status, 401, "{kind}: {body}");
        assert!(body.contains(says), "{kind}: {body}");
    }
    let (status, _) = call(
        &d,
        "GET",
        "/api/v1/rollouts/_all/info",
        &[("Authorization", "Bearer not.a.jwt")],
        "",
    )
    .await;
    assert_eq!(status, 401);
    let reviews = c
        .sim
        .requests()
        .iter()
        .filter(|r| r.path.contains("subjectaccessreviews"))
        .count();
    assert_eq!(
        reviews, reviews_before,
        "no forged token got as far as an access review"
    );
    // An unverified email names nobody (kube-apiserver's rule).
    let mallory = format!("Bearer {}", p.id_token("mallory", CLIENT).await);
    let (status, body) = call(
        &d,
        "GET",
        "/api/v1/rollouts/_all/info",
        &[("Authorization", mallory.as_str())],
        "",
    )
    .await;
    assert_eq!(status, 401, "{body}");
    assert!(body.contains("not verified"), "{body}");
    // A token for another client of the same provider is not ours.
    let other = format!("Bearer {}", p.id_token("alice", "another-client").await);
    assert_eq!(
        call(
            &d,
            "GET",
            "/api/v1/rollouts/_all/info",
            &[("Authorization", other.as_str())],
            ""
        )
        .await
        .0,
        401
    );
    let _ = std::fs::remove_file(key);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn claims_map_to_users_as_kube_apiserver_maps_them() {
    let p = oidc_provider::start("claims", &users());
    let c = cluster().await;
    let key = key_file("claims");
    // The default username claim, sub, is prefixed with the issuer and '#'.
    let port = http::free_port();
    let web = WebArgs {
        oidc_username_claim: "sub".to_string(),
        ..oidc_web(&p, port, &key)
    };
    let d = dashboard(&c, web, port).await;
    let alice = format!("Bearer {}", p.id_token("alice", CLIENT).await);
    let (_, page) = call(&d, "GET", "/", &[("Authorization", alice.as_str())], "").await;
    assert!(
        page.contains(&format!("Signed in as {}#alice (team-a)", p.issuer)),
        "issuer-prefixed"
    );
    // Prefixes on both: her groups no longer match team-a's binding, her
    // prefixed user name matches the binding made for it in team-b.
    let port = http::free_port();
    let web = WebArgs {
        oidc_username_prefix: Some("oidc:".to_string()),
        oidc_groups_prefix: "oidc:".to_string(),
        ..oidc_web(&p, port, &key)
    };
    let d = dashboard(&c, web, port).await;
    let (status, body) = call(
        &d,
        "GET",
        "/api/v1/rollouts/_all/info",
        &[("Authorization", alice.as_str())],
        "",
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        listed(&body),
        ["team-b/api"],
        "the sim's RBAC sees oidc:alice@example.com in oidc:team-a"
    );
    let (_, page) = call(&d, "GET", "/", &[("Authorization", alice.as_str())], "").await;
    assert!(
        page.contains("Signed in as oidc:alice@example.com (oidc:team-a)"),
        "{page}"
    );
    // A required claim the token lacks: refused.
    let port = http::free_port();
    let web = WebArgs {
        oidc_required_claims: vec![("hd".to_string(), "example.com".to_string())],
        ..oidc_web(&p, port, &key)
    };
    let d = dashboard(&c, web, port).await;
    assert_eq!(
        call(
            &d,
            "GET",
            "/api/v1/rollouts/_all/info",
            &[("Authorization", alice.as_str())],
            ""
        )
        .await
        .0,
        200
    );
    let carol = format!("Bearer {}", p.id_token("carol", CLIENT).await);
    let (status, body) = call(
        &d,
        "GET",
        "/api/v1/rollouts/_all/info",
        &[("Authorization", carol.as_str())],
        "",
    )
    .await;
    assert_eq!(status, 401);
    assert!(body.contains("hd"), "{body}");
    let _ = std::fs::remove_file(key);
}

/// `Set-Cookie` values of a response head.
fn set_cookies(head: &str) -> Vec<String> {
    head.lines()
        .filter_map(|l| l.strip_prefix("set-cookie: "))
        .map(str::to_string)
        .collect()
}

fn location(head: &str) -> String {
    head.lines()
        .find_map(|l| l.strip_prefix("location: "))
        .unwrap_or_else(|| panic!("no location: {head}"))
        .to_string()
}

fn pair(set_cookie: &str) -> String {
    set_cookie.split(';').next().unwrap_or_default().to_string()
}

/// The dashboard binary as its own process, on the same cluster.
struct Process(Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sign_in_flow_leaves_a_session_any_replica_accepts() {
    let p = oidc_provider::start("flow", &users());
    let c = cluster().await;
    let port = http::free_port();
    let key = key_file("flow");
    let d = dashboard(&c, oidc_web(&p, port, &key), port).await;

    // A browser without a session is offered the sign-in.
    let (status, page) = call(&d, "GET", "/", &[("Accept", "text/html")], "").await;
    assert_eq!(status, 401);
    assert!(page.contains("sign-in"), "{page}");
    // Sign in: off to the provider with state, nonce and PKCE...
    let (status, head, _) =
        exchange(&d, "GET", "/sign-in?next=/rollouts/team-a/web", &[], "").await;
    assert_eq!(status, 303, "{head}");
    let to_provider = location(&head);
    assert!(
        to_provider.starts_with(&format!("{}/oauth2/authorize?", p.issuer)),
        "{to_provider}"
    );
    for part in [
        "state=",
        "nonce=",
        "code_challenge=",
        "code_challenge_method=S256",
        "redirect_uri=http%3A%2F%2F127.0.0.1",
    ] {
        assert!(to_provider.contains(part), "{part}: {to_provider}");
    }
    let login = pair(&set_cookies(&head)[0]);
    assert!(
        login.starts_with("__Host-rollouts-dashboard-login="),
        "{login}"
    );
    // ...she authorizes there, and comes back with a code.
    let back = p.authorize(&to_provider, "alice").await;
    let callback = back
        .strip_prefix(&format!("http://127.0.0.1:{port}"))
        .unwrap_or_else(|| panic!("back to this dashboard: {back}"))
        .to_string();
    // A callback without this browser's sign-in cookie is refused.
    let (status, _, _) = exchange(&d, "GET", &callback, &[], "").await;
    assert_eq!(status, 401);
    let (status, head, _) = exchange(&d, "GET", &callback, &[("Cookie", login.as_str())], "").await;
    assert_eq!(status, 303, "{head}");
    assert_eq!(
        location(&head),
        "/rollouts/team-a/web",
        "back where she was going"
    );
    let cookies = set_cookies(&head);
    let session_set = cookies
        .iter()
        .find(|c| c.starts_with("__Host-rollouts-dashboard-session="))
        .expect("a session cookie");
    for attr in ["Secure", "HttpOnly", "SameSite=Lax", "Path=/"] {
        assert!(session_set.contains(attr), "{attr}: {session_set}");
    }
    assert!(!session_set.contains("alice"), "sealed: {session_set}");
    let session = pair(session_set);
    let h = [("Cookie", session.as_str())];
    let (status, body) = call(&d, "GET", "/api/v1/rollouts/_all/info", &h, "").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(listed(&body), ["team-a/web"]);
    // The same code once more: the provider refuses it.
    let (status, _, _) = exchange(&d, "GET", &callback, &[("Cookie", login.as_str())], "").await;
    assert_eq!(status, 401, "a code is good once");

    // A second dashboard process with the same key accepts the session.
    let kubeconfig = std::env::temp_dir().join(format!("rd-kc-{}", std::process::id()));
    std::fs::write(
        &kubeconfig,
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: sim\n  cluster: {{server: 'http://{}'}}\nusers:\n- name: sa\n  user: {{token: dashboard-token}}\ncontexts:\n- name: sim\n  context: {{cluster: sim, user: sa, namespace: default}}\ncurrent-context: sim\n",
            c.addr
        ),
    )
    .expect("a kubeconfig");
    let port2 = http::free_port();
    let child = Command::new(env!("CARGO_BIN_EXE_rollouts-dashboard"))
        .env("ROLLOUTS_DASHBOARD_HISTORY_DB", "sqlite::memory:")
        .args(["serve", "-A", "--auth", "oidc", "--listen"])
        .arg(format!("127.0.0.1:{port2}"))
        .arg("--kubeconfig")
        .arg(&kubeconfig)
        .args(["--oidc-issuer-url", &p.issuer, "--oidc-client-id", CLIENT])
        .arg("--oidc-ca-file")
        .arg(&p.ca_file)
        .args([
            "--oidc-username-claim",
            "email",
            "--oidc-groups-claim",
            "groups",
        ])
        .args(["--public-url", &format!("http://127.0.0.1:{port2}")])
        .arg("--session-key-file")
        .arg(&key)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("the binary runs");
    let _second = Process(child);
    let d2 = format!("127.0.0.1:{port2}");
    let probe = d2.clone();
    teams::until("the second dashboard is ready", move || {
        http::get(&probe, "/readyz").is_some_and(|(s, _)| s == 200)
    })
    .await;
    let (status, body) = call(&d2, "GET", "/api/v1/rollouts/_all/info", &h, "").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(listed(&body), ["team-a/web"]);

    // Sign out: POST only, from this site only; the cookie goes and the
    // provider's end-session endpoint is next.
    assert_eq!(call(&d, "GET", "/sign-out", &h, "").await.0, 405);
    let cross = [h[0], ("Origin", "https://evil.example")];
    assert_eq!(exchange(&d, "POST", "/sign-out", &cross, "").await.0, 403);
    let (status, head, _) = exchange(&d, "POST", "/sign-out", &h, "").await;
    assert_eq!(status, 303);
    assert!(
        location(&head).starts_with(&format!("{}/oauth2/end_session?", p.issuer)),
        "{head}"
    );
    assert!(
        set_cookies(&head).iter().any(
            |c| c.starts_with("__Host-rollouts-dashboard-session=;") && c.contains("Max-Age=0")
        ),
        "{head}"
    );
    let _ = std::fs::remove_file(key);
    let _ = std::fs::remove_file(kubeconfig);
}

/// The IdP's groups and names are not Kubernetes': a token naming a
/// `system:` group or user (a ServiceAccount, the dashboard's own among
/// them) signs nobody in, as `--auth proxy` refuses the same headers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_naming_a_system_group_or_a_service_account_signs_nobody_in() {
    let mut people = users();
    people.push(json!({"sub": "eve", "email": "eve@example.com", "email_verified": true, "groups": ["team-a", "system:masters"]}));
    people.push(json!({"sub": "sa", "email": DASHBOARD_SA, "email_verified": true, "groups": []}));
    let p = oidc_provider::start("reserved", &people);
    let c = cluster().await;
    let port = http::free_port();
    let key = key_file("reserved");
    let d = dashboard(&c, oidc_web(&p, port, &key), port).await;
    for (who, says) in [("eve", "system:masters"), ("sa", "system identity")] {
        let token = format!("Bearer {}", p.id_token(who, CLIENT).await);
        let h = [("Authorization", token.as_str())];
        let (status, body) = call(&d, "GET", "/api/v1/rollouts/_all/info", &h, "").await;
        assert_eq!(status, 401, "{who}: {body}");
        assert!(body.contains(says), "{who}: {body}");
        let (status, body) = call(&d, "PUT", "/api/v1/rollouts/team-b/api/pause", &h, "{}").await;
        assert_eq!(status, 401, "{who}: {body}");
    }
    let api = c
        .store
        .get(harness::rt("rollouts"), "team-b", "api")
        .expect("team-b/api");
    assert_ne!(
        api["spec"]["paused"],
        json!(true),
        "nobody paused another team's rollout"
    );
    assert!(
        !c.sim.requests().iter().any(|r| r.method == "PATCH"),
        "nothing was sent to the cluster"
    );
    let _ = std::fs::remove_file(key);
}

/// `?next=` tricks that a browser would resolve to another site (a tab or
/// newline it drops, a backslash it reads as a slash, dot segments in any
/// encoding): after a real sign-in, each lands on this dashboard.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_signing_in_every_next_trick_lands_on_the_dashboard() {
    let p = oidc_provider::start("next", &users());
    let c = cluster().await;
    let port = http::free_port();
    let key = key_file("next");
    let d = dashboard(&c, oidc_web(&p, port, &key), port).await;
    let dashboard_url = url::Url::parse(&format!("http://127.0.0.1:{port}/")).expect("a URL");
    for trick in [
        "/%09/evil.example/",
        "/%0a/evil.example/",
        "%09//evil.example",
        "/%5cevil.example",
        "%5c%5cevil.example",
        "//evil.example",
        "/a/..//evil.example",
        "/%252e%252e//evil.example",
        "https:evil.example",
    ] {
        let (status, head, _) =
            exchange(&d, "GET", &format!("/sign-in?next={trick}"), &[], "").await;
        assert_eq!(status, 303, "{trick}: {head}");
        let login = pair(&set_cookies(&head)[0]);
        let back = p.authorize(&location(&head), "alice").await;
        let callback = back
            .strip_prefix(&format!("http://127.0.0.1:{port}"))
            .unwrap_or_else(|| panic!("back to this dashboard: {back}"))
            .to_string();
        let (status, head, _) =
            exchange(&d, "GET", &callback, &[("Cookie", login.as_str())], "").await;
        assert_eq!(status, 303, "{trick}: {head}");
        let landed = dashboard_url.join(&location(&head)).expect("a Location");
        assert_eq!(
            landed.origin(),
            dashboard_url.origin(),
            "{trick} sent the browser to {landed}"
        );
    }
    // The provider's error comes back in the URL, which anyone can write:
    // the page says it in our words only.
    let forged = "/auth/callback?error=access_denied&error_description=Your%20account%20is%20locked.%20Call%20%2B1-555-0100%0a%20INFO%20audit%3A%20action%3Dpromote";
    let (status, body) = call(&d, "GET", forged, &[("Accept", "text/html")], "").await;
    assert_eq!(status, 401);
    assert!(body.contains("did not let you sign in here"), "{body}");
    assert!(!body.contains("locked") && !body.contains("555"), "{body}");
    let (_, body) = call(
        &d,
        "GET",
        "/auth/callback?error=%3Cb%3Eurgent%3C%2Fb%3E",
        &[("Accept", "text/html")],
        "",
    )
    .await;
    assert!(
        body.contains("refused the sign-in") && !body.contains("urgent"),
        "{body}"
    );
    let _ = std::fs::remove_file(key);
}
