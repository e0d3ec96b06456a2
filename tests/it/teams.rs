//! Two teams on one simulated cluster that requires tokens and enforces
//! RBAC (tests/fixtures/multi-team), and the dashboard run on it as its
//! ServiceAccount in any `--auth` mode; and the polling and port helpers
//! every test that runs a dashboard needs.

use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use jiff::SignedDuration;
use rollouts_dashboard::cli::{AuthMode, Cidr, LogFormat, WebArgs};
use rollouts_dashboard::cluster::client::{ConfigSource, Connection, Scope};
use rollouts_dashboard::model::parse_yaml_documents;
use rollouts_dashboard::serve;
use rollouts_dashboard::sim::apiserver::ApiServer;
use rollouts_dashboard::sim::apiserver::users::Users;
use rollouts_dashboard::sim::controller::{Controller, ControllerConfig};
use rollouts_dashboard::sim::manifests::{LoadReport, load_objects};
use rollouts_dashboard::sim::scenario::set_image;
use rollouts_dashboard::sim::store::{Store, Subresource};
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use crate::harness::{empty_store, rt};
use crate::http;

pub const ALICE: &[(&str, &str)] = &[
    ("X-Forwarded-User", "alice"),
    ("X-Forwarded-Groups", "team-a"),
];
pub const BOB: &[(&str, &str)] = &[
    ("X-Forwarded-User", "bob"),
    ("X-Forwarded-Groups", "viewers"),
];

/// The dashboard's ServiceAccount, as the chart names it.
pub const DASHBOARD_SA: &str = "system:serviceaccount:rollouts-dashboard:rollouts-dashboard";

pub fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/multi-team")
}

/// Every YAML document of `path`.
pub fn documents(path: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    parse_yaml_documents(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

pub struct Cluster {
    pub store: Arc<Store>,
    pub controller: Controller,
    pub sim: ApiServer,
    pub addr: SocketAddr,
    pub stop: CancellationToken,
}

impl Cluster {
    /// How many requests the API server received whose path contains
    /// `path_part`.
    pub fn count(&self, path_part: &str) -> usize {
        self.sim
            .requests()
            .iter()
            .filter(|r| r.path.contains(path_part))
            .count()
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

pub fn react(store: &Store, controller: &Controller) {
    controller.settle(50);
    store.clock.advance(SignedDuration::from_secs(3));
    controller.settle(50);
}

/// The two teams' cluster with the dashboard as its ServiceAccount, bound
/// by the chart's RBAC (`dashboard-rbac.yaml`).
pub async fn two_teams() -> Cluster {
    let rbac = documents(&fixtures().join("dashboard-rbac.yaml"));
    cluster(DASHBOARD_SA, rbac, Vec::new()).await
}

/// team-a/web and team-b/api, each updated and waiting at its indefinite
/// pause (step index 1), plus `extra` objects, on an API server that
/// requires tokens: the people of users.csv, and `dashboard_user` (the
/// dashboard's ServiceAccount) as `dashboard-token`, bound by
/// `dashboard_rbac`.
pub async fn cluster(
    dashboard_user: &str,
    dashboard_rbac: Vec<Value>,
    extra: Vec<Value>,
) -> Cluster {
    let store = empty_store();
    let mut report = LoadReport::default();
    let mut docs = documents(&fixtures().join("rollouts.yaml"));
    docs.extend(documents(&fixtures().join("teams-rbac.yaml")));
    docs.extend(dashboard_rbac);
    docs.extend(extra);
    load_objects(&store, docs, &mut report);
    assert!(report.skipped.is_empty(), "{:?}", report.skipped);
    let controller = Controller::new(
        store.clone(),
        ControllerConfig {
            pod_ready_after: SignedDuration::from_secs(2),
        },
    );
    react(&store, &controller);
    for (ns, name) in [("team-a", "web"), ("team-b", "api")] {
        store
            .patch(rt("rollouts"), ns, name, Subresource::Main, |o| {
                set_image(o, name, "argoproj/rollouts-demo:yellow");
                Ok(())
            })
            .expect("the update starts");
    }
    react(&store, &controller);
    for (ns, name) in [("team-a", "web"), ("team-b", "api")] {
        assert_eq!(
            step_of(&store, ns, name),
            1,
            "{ns}/{name} waits at its pause"
        );
    }
    let people = std::fs::read_to_string(fixtures().join("users.csv")).expect("users.csv");
    let users = Users::parse(&format!(
        "dashboard-token,{dashboard_user},sa-uid,\n{people}"
    ))
    .expect("the users file");
    let stop = CancellationToken::new();
    let sim = ApiServer::new(store.clone(), stop.clone()).with_users(users);
    let (addr, _) = sim
        .serve(SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .expect("the sim listens");
    Cluster {
        store,
        controller,
        sim,
        addr,
        stop,
    }
}

pub fn step_of(store: &Store, ns: &str, name: &str) -> i64 {
    store.get(rt("rollouts"), ns, name).expect("the rollout")["status"]["currentStepIndex"]
        .as_i64()
        .unwrap_or(-1)
}

/// The dashboard as the ServiceAccount (`dashboard-token`) in `auth` mode,
/// showing `scope`, believing identity headers from `trusted`; returns its
/// address once it is ready.
pub async fn dashboard(
    cluster: &Cluster,
    auth: AuthMode,
    trusted: &[&str],
    scope: Scope,
) -> String {
    dashboard_on(
        cluster,
        auth,
        trusted,
        scope,
        SocketAddr::from(([127, 0, 0, 1], 0)),
    )
    .await
}

/// As `dashboard`, listening on `listen`; returns a loopback address of it.
pub async fn dashboard_on(
    cluster: &Cluster,
    auth: AuthMode,
    trusted: &[&str],
    scope: Scope,
    listen: SocketAddr,
) -> String {
    let web = WebArgs {
        auth,
        trusted_proxies: trusted.iter().map(|c| cidr(c)).collect(),
        ..WebArgs::defaults()
    };
    dashboard_with(cluster, scope, listen, web).await
}

pub fn cidr(c: &str) -> Cidr {
    rollouts_dashboard::cli::cidr(c).expect("a CIDR")
}

/// The dashboard as the ServiceAccount with `web`'s settings (its listen
/// address is the one bound here), once it is ready.
pub async fn dashboard_with(
    cluster: &Cluster,
    scope: Scope,
    listen: SocketAddr,
    web: WebArgs,
) -> String {
    let mut config = kube::Config::new(format!("http://{}", cluster.addr).parse().expect("a URL"));
    config.default_namespace = "default".to_string();
    config.auth_info.token = Some(secrecy::SecretString::from("dashboard-token"));
    let conn = Connection {
        config,
        source: ConfigSource::InCluster,
        scope,
    };
    let listener = tokio::net::TcpListener::bind(listen).await.expect("a port");
    let port = listener.local_addr().expect("bound").port();
    let addr = format!("127.0.0.1:{port}");
    let mut web = WebArgs {
        listen: listener.local_addr().expect("bound"),
        log_format: LogFormat::Text,
        ..web
    };
    // Each test's history in its own memory, never in the home folder.
    if web.history.history_db.is_none() {
        web.history.history_db = Some("sqlite::memory:".to_string());
    }
    let stop = cluster.stop.clone();
    tokio::spawn(async move {
        if let Err(e) = serve::run_on(listener, &conn, &web, stop).await {
            panic!("the dashboard failed: {e}");
        }
    });
    let probe = addr.clone();
    until("the dashboard is ready", move || {
        http::get(&probe, "/readyz").is_some_and(|(s, _)| s == 200)
    })
    .await;
    addr
}

/// Polls `ok` (off the runtime's threads) until it holds; panics after 30 s.
pub async fn until(what: &str, ok: impl Fn() -> bool + Send + Sync + 'static) {
    until_within(Duration::from_secs(30), what, ok).await
}

/// Polls `ok` (off the runtime's threads) until it holds; panics after
/// `patience`.
pub async fn until_within(
    patience: Duration,
    what: &str,
    ok: impl Fn() -> bool + Send + Sync + 'static,
) {
    let ok = Arc::new(ok);
    let start = Instant::now();
    loop {
        let check = ok.clone();
        if tokio::task::spawn_blocking(move || check())
            .await
            .unwrap_or(false)
        {
            return;
        }
        assert!(start.elapsed() < patience, "gave up waiting: {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// (status, response head, body) of one request, off the runtime's threads.
pub async fn exchange(
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, String, String) {
    let (addr, method, path, body) = (
        addr.to_string(),
        method.to_string(),
        path.to_string(),
        body.to_string(),
    );
    let headers = owned(headers);
    tokio::task::spawn_blocking(move || {
        let h = borrowed(&headers);
        http::request_with(&addr, &method, &path, &h, &body).unwrap_or((
            0,
            String::new(),
            String::new(),
        ))
    })
    .await
    .expect("the request ran")
}

/// (status, body) of one request.
pub async fn call(
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, String) {
    let (status, _, body) = exchange(addr, method, path, headers, body).await;
    (status, body)
}

/// `namespace/name` of every rollout in an `/info` list.
pub fn listed(body: &str) -> Vec<String> {
    crate::common::rollout_names(&serde_json::from_str(body).unwrap_or(Value::Null))
}

/// The overview stream's first full view: the card ids it names.
pub async fn overview_stream_ids(addr: &str, headers: &[(&str, &str)]) -> Vec<String> {
    let addr = addr.to_string();
    let headers = owned(headers);
    tokio::task::spawn_blocking(move || {
        let h = borrowed(&headers);
        let stream =
            http::open_stream_with(&addr, "/stream/overview", &h).expect("the stream opens");
        resync_ids_until(stream, |_| true)
    })
    .await
    .expect("the stream was read")
}

/// The card ids of the first `resync` on an overview `stream` that `ok`
/// takes (blocking: call it off the runtime's threads).
pub fn resync_ids_until(
    stream: std::net::TcpStream,
    ok: impl Fn(&[String]) -> bool,
) -> Vec<String> {
    let mut lines = BufReader::new(stream).lines();
    let mut event = String::new();
    while let Some(Ok(line)) = lines.next() {
        if let Some(name) = line.strip_prefix("event: ") {
            event = name.to_string();
        } else if let Some(data) = line.strip_prefix("data: ")
            && event == "resync"
        {
            let v: Value = serde_json::from_str(data).expect("JSON");
            let ids: Vec<String> = v["ids"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .map(String::from)
                .collect();
            if ok(&ids) {
                return ids;
            }
        }
    }
    panic!("the stream ended before the full view looked for");
}

/// Headers a blocking task can own.
fn owned(headers: &[(&str, &str)]) -> Vec<(String, String)> {
    headers
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn borrowed(headers: &[(String, String)]) -> Vec<(&str, &str)> {
    headers
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect()
}

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The RBAC objects the chart renders with `ci/<values>-values.yaml`, and
/// the ServiceAccount they bind.
pub fn chart_rbac(values: &str) -> (String, Vec<Value>) {
    let dir = root().join(format!("target/chart-rbac-{}-{values}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a scratch directory");
    let python = std::env::var_os("ROLLOUTS_DASHBOARD_TEST_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("target/tools-venv/bin/python"));
    let out = Command::new(&python)
        .arg(root().join("tools/chart_check.py"))
        .arg(root().join("charts/rollouts-dashboard"))
        .arg("--dump")
        .arg(&dir)
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "cannot run {} ({e}); `bash .ci/run` installs the test tools",
                python.display()
            )
        });
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let file = dir.join(format!("{values}.yaml"));
    let text = std::fs::read_to_string(&file).expect("the dumped RBAC");
    let sa = text
        .lines()
        .next()
        .and_then(|l| l.strip_prefix("# serviceAccount: "))
        .expect("the ServiceAccount line")
        .to_string();
    let docs = documents(&file);
    let _ = std::fs::remove_dir_all(&dir);
    (sa, docs)
}

/// Reads the open stream until `text` appears or `within` passes; what
/// was read.
pub async fn read_until(
    mut stream: std::net::TcpStream,
    text: &'static str,
    within: Duration,
) -> String {
    tokio::task::spawn_blocking(move || {
        let _ = stream.set_read_timeout(Some(Duration::from_millis(500)));
        let start = Instant::now();
        let mut seen = Vec::new();
        let mut buf = [0u8; 4096];
        while start.elapsed() < within {
            match stream.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => seen.extend_from_slice(&buf[..n]),
                Err(_) => {}
            }
            if String::from_utf8_lossy(&seen).contains(text) {
                break;
            }
        }
        String::from_utf8_lossy(&seen).into_owned()
    })
    .await
    .expect("the stream was read")
}

pub async fn open(addr: &str, path: &str, headers: &[(&str, &str)]) -> std::net::TcpStream {
    let (addr, path) = (addr.to_string(), path.to_string());
    let headers: Vec<(String, String)> = headers
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    tokio::task::spawn_blocking(move || {
        let h: Vec<(&str, &str)> = headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        http::open_stream_with(&addr, &path, &h)
    })
    .await
    .expect("opened")
    .unwrap_or_else(|| panic!("the stream opens"))
}

/// Resident memory of a process, in KiB.
pub fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

/// team-a may read its pods' logs (`get pods/log` in its namespace).
pub fn team_a_reads_logs() -> Vec<Value> {
    vec![
        serde_json::json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
            "metadata": {"name": "log-reader", "namespace": "team-a"},
            "rules": [{"apiGroups": [""], "resources": ["pods/log"], "verbs": ["get"]}]}),
        serde_json::json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
            "metadata": {"name": "team-a-log-readers", "namespace": "team-a"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "log-reader"},
            "subjects": [{"kind": "Group", "name": "team-a", "apiGroup": "rbac.authorization.k8s.io"}]}),
    ]
}
