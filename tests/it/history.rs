//! The release history end to end, on SQLite and on a real PostgreSQL: the
//! seed's release driven step by step on the simulated cluster, a person's
//! promote and abort (signed in through a trusted proxy) recorded with
//! their name, a restart that duplicates nothing, two replicas on one
//! PostgreSQL with one writer and a takeover, and retention.

use crate::harness;
use crate::http;
use crate::teams;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use harness::postgres::Postgres;
use harness::{empty_store, react, rt};
use rollouts_dashboard::cli::{AuthMode, LogFormat, WebArgs};
use rollouts_dashboard::cluster::client::{ConfigSource, Connection, Scope};
use rollouts_dashboard::history::Store as HistoryStore;
use rollouts_dashboard::model::parse_yaml_documents;
use rollouts_dashboard::serve;
use rollouts_dashboard::sim::apiserver::ApiServer;
use rollouts_dashboard::sim::apiserver::users::Users;
use rollouts_dashboard::sim::controller::{Controller, ControllerConfig};
use rollouts_dashboard::sim::manifests::{LoadReport, load_objects};
use rollouts_dashboard::sim::scenario::{load_seed, set_image};
use rollouts_dashboard::sim::store::{Store, Subresource};
use serde_json::Value;
use tokio_util::sync::CancellationToken;

const NS: &str = "manifest-gen";
const NAME: &str = "manifest-gen";
const ALICE: &[(&str, &str)] = &[("X-Forwarded-User", "alice")];

/// Everyone here may do everything, the dashboard may impersonate.
const RBAC: &str = r#"
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: everything}
rules:
- apiGroups: ["*"]
  resources: ["*"]
  verbs: ["*"]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: everyone-everything}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: everything}
subjects:
- {kind: User, name: dashboard, apiGroup: rbac.authorization.k8s.io}
- {kind: User, name: alice, apiGroup: rbac.authorization.k8s.io}
"#;

struct Cluster {
    store: Arc<Store>,
    controller: Controller,
    addr: SocketAddr,
    stop: CancellationToken,
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// The seed, healthy at revision 1, on an API server that requires tokens:
/// the dashboard is `dashboard` and alice, and both may do everything.
async fn cluster() -> Cluster {
    cluster_as("dashboard", parse_yaml_documents(RBAC).expect("the RBAC")).await
}

/// As `cluster`, the dashboard being `user` with `rbac`.
async fn cluster_as(user: &str, rbac: Vec<Value>) -> Cluster {
    let store = empty_store();
    load_seed(&store);
    let mut report = LoadReport::default();
    load_objects(&store, rbac, &mut report);
    assert!(report.skipped.is_empty(), "{:?}", report.skipped);
    let controller = Controller::new(
        store.clone(),
        ControllerConfig {
            pod_ready_after: jiff::SignedDuration::from_secs(2),
        },
    );
    react(&store, &controller, 3);
    let users = Users::parse(&format!(
        "dashboard-token,{user},d-uid,\nalice-token,alice,a-uid,"
    ))
    .expect("the users");
    let stop = CancellationToken::new();
    let sim = ApiServer::new(store.clone(), stop.clone()).with_users(users);
    let (addr, _) = sim
        .serve(SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .expect("the sim listens");
    Cluster {
        store,
        controller,
        addr,
        stop,
    }
}

struct Running {
    addr: String,
    /// /metrics is served here (people sign in on `addr`).
    admin: String,
    stop: CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

impl Running {
    /// Stops it as a shutdown does, and waits until it has.
    async fn shut_down(self) {
        self.stop.cancel();
        let _ = tokio::time::timeout(Duration::from_secs(20), self.task).await;
    }
}

/// A dashboard on `c` keeping its history in `db`, people signed in by a
/// trusted proxy on loopback.
async fn dashboard(c: &Cluster, db: &str) -> Running {
    dashboard_with(c, db, AuthMode::Proxy, NS).await
}

/// As `dashboard`, in `auth` mode, its Lease in `lease_namespace`.
async fn dashboard_with(c: &Cluster, db: &str, auth: AuthMode, lease_namespace: &str) -> Running {
    dashboard_showing(c, db, auth, lease_namespace, None).await
}

/// As `dashboard_with`, also showing the clusters of Argo CD's Secrets
/// mounted in `argocd_dir`.
async fn dashboard_showing(
    c: &Cluster,
    db: &str,
    auth: AuthMode,
    lease_namespace: &str,
    argocd_dir: Option<std::path::PathBuf>,
) -> Running {
    let mut config = kube::Config::new(format!("http://{}", c.addr).parse().expect("a URL"));
    config.default_namespace = "default".to_string();
    config.auth_info.token = Some(secrecy::SecretString::from("dashboard-token"));
    let conn = Connection {
        config,
        source: ConfigSource::InCluster,
        scope: Scope::AllNamespaces,
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a port");
    let addr = listener.local_addr().expect("bound").to_string();
    let mut web = WebArgs {
        listen: listener.local_addr().expect("bound"),
        auth,
        trusted_proxies: vec![rollouts_dashboard::cli::cidr("127.0.0.1/32").expect("a CIDR")],
        log_format: LogFormat::Text,
        ..WebArgs::defaults()
    };
    let admin = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port");
    web.admin_listen = Some(admin);
    web.history.history_db = Some(db.to_string());
    web.history.history_lease_namespace = Some(lease_namespace.to_string());
    web.history.history_pod_logs = Some(true);
    web.argocd_cluster_dir = argocd_dir;
    let stop = c.stop.child_token();
    let run_stop = stop.clone();
    let task = tokio::spawn(async move {
        if let Err(e) = serve::run_on(listener, &conn, &web, run_stop).await {
            panic!("the dashboard failed: {e}");
        }
    });
    let probe = admin.to_string();
    until("the dashboard is ready", move || {
        http::get(&probe, "/readyz").is_some_and(|(s, _)| s == 200)
    })
    .await;
    Running {
        addr,
        admin: admin.to_string(),
        stop,
        task,
    }
}

/// The seed release's steps, as the history describes them.
const SEED_STEPS: [&str; 5] = [
    "Set weight 20%",
    "Pause until promoted",
    "Set weight 50%",
    "Pause 30s",
    "Set weight 100%",
];

/// A revision's steps in words, in order.
fn step_words(revision: &Value) -> Vec<&str> {
    revision["steps"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|s| s["description"].as_str().unwrap_or(""))
        .collect()
}

async fn until(what: &str, ok: impl Fn() -> bool + Send + Sync + 'static) {
    teams::until_within(Duration::from_secs(45), what, ok).await
}

fn get_json(addr: &str, path: &str) -> Option<Value> {
    let (status, _, body) = http::request_with(addr, "GET", path, ALICE, "")?;
    (status == 200).then(|| serde_json::from_str(&body).ok())?
}

fn history(addr: &str) -> Value {
    get_json(addr, &format!("/api/v1/rollouts/{NS}/{NAME}/history")).unwrap_or(Value::Null)
}

fn revision(h: &Value, rev: &str) -> Option<Value> {
    h["revisions"]
        .as_array()?
        .iter()
        .find(|r| r["revision"] == rev)
        .cloned()
}

/// Waits until revision `rev` satisfies `ok`; returns it.
async fn until_revision(addr: &str, rev: &str, what: &str, ok: fn(&Value) -> bool) -> Value {
    let a = addr.to_string();
    let r = rev.to_string();
    let (a2, r2) = (a.clone(), r.clone());
    let check = move || revision(&history(&a), &r).is_some_and(|v| ok(&v));
    if tokio::time::timeout(Duration::from_secs(40), until(what, check))
        .await
        .is_err()
    {
        panic!(
            "{what}: {}",
            revision(&history(&a2), &r2).unwrap_or(Value::Null)
        );
    }
    revision(&history(addr), rev).expect("recorded")
}

fn steps_entered(r: &Value) -> usize {
    r["steps"].as_array().map_or(0, Vec::len)
}

fn seconds(a: &Value, b: &Value) -> i64 {
    let t = |v: &Value| {
        v.as_str()
            .and_then(|s| s.parse::<jiff::Timestamp>().ok())
            .map(|t| t.as_second())
            .expect("a time")
    };
    t(b) - t(a)
}

fn act(addr: &str, action: &str) {
    let (status, _, body) = http::request_with(
        addr,
        "PUT",
        &format!("/api/v1/rollouts/{NS}/{NAME}/{action}"),
        &[ALICE[0], ("Content-Type", "application/json")],
        "{}",
    )
    .expect("the dashboard answers");
    assert_eq!(status, 200, "{action}: {body}");
}

fn start_update(store: &Store, image: &str) {
    store
        .patch(rt("rollouts"), NS, NAME, Subresource::Main, |o| {
            set_image(o, NAME, image);
            Ok(())
        })
        .expect("the update starts");
}

/// The seed release step by step, a promote and an abort by alice, then a
/// restart of the dashboard on the same database.
async fn release_is_recorded(db: &str) {
    let c = cluster().await;
    let d = dashboard(&c, db).await;
    until_revision(&d.addr, "1", "revision 1 recorded", |r| {
        r["outcome"] == "promoted"
    })
    .await;

    // Revision 2: step 0 (20%) until its pods are ready, then the pause.
    start_update(&c.store, "argoproj/rollouts-demo:yellow");
    c.controller.settle(50);
    until_revision(&d.addr, "2", "step 1 entered", |r| steps_entered(r) == 1).await;
    react(&c.store, &c.controller, 3);
    until_revision(&d.addr, "2", "the pause entered", |r| steps_entered(r) == 2).await;
    act(&d.addr, "promote");
    c.controller.settle(50);
    react(&c.store, &c.controller, 3);
    until_revision(&d.addr, "2", "the 30 s pause entered", |r| {
        steps_entered(r) == 4
    })
    .await;
    react(&c.store, &c.controller, 30);
    until_revision(&d.addr, "2", "step 5 entered", |r| steps_entered(r) == 5).await;
    react(&c.store, &c.controller, 3);
    let r2 = until_revision(&d.addr, "2", "revision 2 promoted", |r| {
        r["outcome"] == "promoted"
    })
    .await;

    let steps = r2["steps"].as_array().expect("steps");
    assert_eq!(step_words(&r2), SEED_STEPS, "every step, in order: {r2}");
    for s in steps {
        assert!(s["leftAt"].is_string(), "every step was left: {s}");
        assert!(seconds(&s["enteredAt"], &s["leftAt"]) >= 0, "{s}");
    }
    for pair in steps.windows(2) {
        assert!(
            seconds(&pair[0]["leftAt"], &pair[1]["enteredAt"]) >= 0,
            "one step after the other: {pair:?}"
        );
    }
    let pause = seconds(&steps[3]["enteredAt"], &steps[3]["leftAt"]);
    assert_eq!(
        pause, 30,
        "the 30 s pause lasted 30 s by the cluster's clock"
    );
    let weights: Vec<&Value> = steps.iter().map(|s| &s["weight"]).collect();
    assert_eq!(
        weights[4], 100,
        "the last step reached 100%, whatever the weight after it: {weights:?}"
    );
    assert!(r2["endedAt"].is_string());
    assert_eq!(r2["images"][0], "argoproj/rollouts-demo:yellow");
    let events = r2["events"].as_array().expect("events");
    let promote = events
        .iter()
        .find(|e| e["kind"] == "promote")
        .unwrap_or_else(|| panic!("a promote: {events:?}"));
    assert_eq!(promote["by"], "alice", "{promote}");
    assert_eq!(promote["via"], "dashboard");
    let resume = events
        .iter()
        .find(|e| e["kind"] == "resume")
        .unwrap_or_else(|| panic!("the timed pause's end: {events:?}"));
    assert_eq!(resume["by"], Value::Null);
    assert_eq!(resume["via"], "controller");
    assert_eq!(
        events.iter().filter(|e| e["kind"] == "promote").count(),
        1,
        "one promote: {events:?}"
    );
    assert!(events.iter().any(|e| e["kind"] == "setImage"));

    // Revision 3, aborted by alice at its pause.
    start_update(&c.store, "argoproj/rollouts-demo:purple");
    react(&c.store, &c.controller, 3);
    until_revision(&d.addr, "3", "revision 3 at its pause", |r| {
        steps_entered(r) == 2
    })
    .await;
    act(&d.addr, "abort");
    c.controller.settle(50);
    let r3 = until_revision(&d.addr, "3", "revision 3 aborted", |r| {
        r["outcome"] == "aborted"
    })
    .await;
    let abort = r3["events"]
        .as_array()
        .and_then(|e| e.iter().find(|e| e["kind"] == "abort").cloned())
        .unwrap_or_else(|| panic!("an abort: {r3}"));
    assert_eq!(abort["by"], "alice", "{abort}");
    // Its canary's last lines are kept with it (--history-pod-logs), in
    // either database.
    let r3 = until_revision(&d.addr, "3", "revision 3's pod lines kept", |r| {
        r["keptLogs"].is_object()
    })
    .await;
    assert_eq!(r3["keptLogs"]["unread"], 0, "{r3}");
    let kept = get_json(
        &d.addr,
        &format!("/api/v1/rollouts/{NS}/{NAME}/history/3/logs"),
    )
    .expect("the kept lines");
    let lines = kept["logs"][0]["lines"].as_array().map_or(0, Vec::len);
    assert!(lines >= 1, "{kept}");
    assert_eq!(
        r3["keptLogs"]["lines"].as_u64(),
        Some(kept["logs"].as_array().map_or(0, |l| {
            l.iter()
                .map(|c| c["lines"].as_array().map_or(0, Vec::len) as u64)
                .sum()
        })),
        "the summary counts what is kept: {kept}"
    );
    let r2_state = revision(&history(&d.addr), "2");

    // A restart on the same database: everything is there, once.
    let before = history(&d.addr);
    d.shut_down().await;
    let d = dashboard(&c, db).await;
    until("the history is served again", {
        let a = d.addr.clone();
        move || history(&a)["revisions"].is_array()
    })
    .await;
    // A change after the restart, recorded in order after the restart's
    // look at everything: once it is in, the look is done too.
    act(&d.addr, "retry");
    c.controller.settle(50);
    let r3 = until_revision(&d.addr, "3", "the retry recorded", |r| {
        r["events"]
            .as_array()
            .is_some_and(|e| e.iter().any(|e| e["kind"] == "retry"))
    })
    .await;
    let after = history(&d.addr);
    assert_eq!(
        after["revisions"].as_array().map(Vec::len),
        before["revisions"].as_array().map(Vec::len),
        "no revision added or lost"
    );
    assert_eq!(revision(&after, "2"), r2_state, "revision 2 untouched");
    let retry = r3["events"]
        .as_array()
        .and_then(|e| e.iter().find(|e| e["kind"] == "retry").cloned())
        .expect("a retry");
    assert_eq!(retry["by"], "alice");
    for r in after["revisions"].as_array().expect("revisions") {
        let mut seen = std::collections::HashSet::new();
        for e in r["events"].as_array().expect("events") {
            assert!(seen.insert(e.to_string()), "a duplicated event: {e} in {r}");
        }
    }
    // The Releases API lists them, with who.
    let releases = get_json(&d.addr, &format!("/api/v1/history?namespace={NS}&since=1d"))
        .expect("the releases");
    let r2 = releases["releases"]
        .as_array()
        .and_then(|rs| rs.iter().find(|r| r["revision"] == "2").cloned())
        .expect("revision 2 listed");
    assert_eq!(r2["promotedBy"], "alice");
    assert_eq!(releases["rollouts"][0]["name"], NAME);
    d.shut_down().await;

    // Retention: what ended before the cutoff goes, what runs stays.
    let store = HistoryStore::open(db).await.expect("the database");
    let gone = store
        .forget_before(jiff::Timestamp::now().as_millisecond() + 3_600_000)
        .await
        .expect("forgotten");
    assert!(gone >= 2, "revisions 1 and 2 went: {gone}");
    let left = store
        .history(&rollouts_dashboard::model::RolloutKey::new(NS, NAME), 50)
        .await
        .expect("read");
    let revs: Vec<i64> = left.iter().map(|r| r.revision).collect();
    assert_eq!(revs, [3], "revision 3 is in progress again (retried)");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_release_is_recorded_in_sqlite_and_survives_a_restart() {
    let dir = std::env::temp_dir().join(format!("rd-history-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("a folder");
    release_is_recorded(&format!("sqlite://{}", dir.join("history.db").display())).await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_release_is_recorded_in_postgres_and_survives_a_restart() {
    let pg = tokio::task::spawn_blocking(Postgres::start)
        .await
        .expect("PostgreSQL starts");
    let url = pg.database("history_release");
    release_is_recorded(&url).await;
}

/// Where the chart installs the dashboard (its Lease Role's namespace).
const CHART_NAMESPACE: &str = "dashboards";

fn lease_holder(store: &Store) -> Option<String> {
    store
        .get(rt("leases"), CHART_NAMESPACE, "rollouts-dashboard-history")
        .ok()?
        .pointer("/spec/holderIdentity")?
        .as_str()
        .map(str::to_string)
}

fn writes(addr: &str) -> bool {
    http::get(addr, "/metrics").is_some_and(|(_, body)| {
        body.lines()
            .any(|l| l.starts_with("rollouts_dashboard_history_writer") && l.ends_with(" 1"))
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_replicas_on_one_postgres_have_one_writer_and_the_other_takes_over() {
    let pg = tokio::task::spawn_blocking(Postgres::start)
        .await
        .expect("PostgreSQL starts");
    let url = pg.database("history_replicas");
    // The dashboards run with the RBAC the chart renders for several
    // replicas on PostgreSQL: its Lease Role is enough.
    let (sa, mut rbac) = teams::chart_rbac("postgres");
    rbac.push(serde_json::json!({
        "apiVersion": "v1", "kind": "Namespace", "metadata": {"name": CHART_NAMESPACE}
    }));
    let c = cluster_as(&sa, rbac).await;
    let a = dashboard_with(&c, &url, AuthMode::None, CHART_NAMESPACE).await;
    let b = dashboard_with(&c, &url, AuthMode::None, CHART_NAMESPACE).await;
    {
        let (aa, ba) = (a.admin.clone(), b.admin.clone());
        let check = move || writes(&aa) != writes(&ba);
        if tokio::time::timeout(Duration::from_secs(30), until("one writes", check))
            .await
            .is_err()
        {
            panic!(
                "one of them writes: lease {:?}, metrics {:?}",
                c.store
                    .get(rt("leases"), CHART_NAMESPACE, "rollouts-dashboard-history"),
                http::get(&a.admin, "/metrics")
            );
        }
    }
    let holder = lease_holder(&c.store).expect("the Lease is held");
    let (leader, follower) = if writes(&a.admin) { (a, b) } else { (b, a) };
    assert!(!writes(&follower.admin), "only one writes");

    // A release, recorded once, readable from both.
    start_update(&c.store, "argoproj/rollouts-demo:yellow");
    react(&c.store, &c.controller, 3);
    until_revision(&follower.addr, "2", "the follower reads the pause", |r| {
        steps_entered(r) == 2
    })
    .await;
    let store = HistoryStore::open(&url).await.expect("the database");
    let counts = store.counts().await.expect("counts");
    let count = |t: &str| counts.iter().find(|(n, _)| *n == t).map_or(0, |(_, c)| *c);
    let rollouts = harness::infos(&harness::sim_objects(&c.store)).len() as i64;
    assert_eq!(count("history_rollouts"), rollouts, "one row per rollout");
    assert_eq!(
        count("history_revisions"),
        rollouts + 1,
        "each rollout's revision once, and the new one"
    );

    // The writer stops: the other takes the Lease and records.
    leader.shut_down().await;
    {
        let fa = follower.admin.clone();
        until("the follower takes over", move || writes(&fa)).await;
    }
    assert_ne!(
        lease_holder(&c.store),
        Some(holder),
        "the Lease changed hands"
    );
    act(&follower.addr, "promote");
    c.controller.settle(50);
    let r2 = until_revision(&follower.addr, "2", "the promote after the takeover", |r| {
        steps_entered(r) >= 3
    })
    .await;
    let promote = r2["events"]
        .as_array()
        .and_then(|e| e.iter().find(|e| e["kind"] == "promote").cloned())
        .expect("the promote");
    // No one signs in here: sent through the dashboard, no name.
    assert_eq!(promote["via"], "dashboard", "{promote}");
    assert_eq!(promote["by"], Value::Null);
    let counts = store.counts().await.expect("counts");
    let revisions = counts
        .iter()
        .find(|(n, _)| *n == "history_revisions")
        .map_or(0, |(_, c)| *c);
    assert_eq!(revisions, rollouts + 1, "the new writer added no duplicate");
    follower.shut_down().await;
}

/// The value of one metric line on `admin`, if it is there.
fn metric(admin: &str, line: &str) -> Option<f64> {
    let (_, body) = http::get(admin, "/metrics")?;
    body.lines()
        .find_map(|l| l.strip_prefix(line)?.strip_prefix(' '))
        .and_then(|v| v.trim().parse().ok())
}

fn page(addr: &str, path: &str) -> String {
    http::request_with(addr, "GET", path, ALICE, "")
        .map(|(_, _, body)| body)
        .unwrap_or_default()
}

/// PostgreSQL down for a minute while alice promotes the seed twice: the
/// banner, `/readyz` and `/metrics` say so meanwhile; afterwards both
/// promotes are in the history with her name, every step in order, and
/// the outage is recorded and shown as a gap in which nothing was lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_database_outage_loses_nothing_and_is_shown() {
    let pg = Arc::new(
        tokio::task::spawn_blocking(Postgres::start)
            .await
            .expect("PostgreSQL starts"),
    );
    let url = pg.database("history_outage");
    let c = cluster().await;
    let d = dashboard(&c, &url).await;
    until_revision(&d.addr, "1", "revision 1 recorded", |r| {
        r["outcome"] == "promoted"
    })
    .await;
    start_update(&c.store, "argoproj/rollouts-demo:yellow");
    c.controller.settle(50);
    until_revision(&d.addr, "2", "step 1 entered", |r| steps_entered(r) == 1).await;
    react(&c.store, &c.controller, 3);
    until_revision(&d.addr, "2", "the pause entered", |r| steps_entered(r) == 2).await;

    let down = pg.clone();
    tokio::task::spawn_blocking(move || down.stop())
        .await
        .expect("PostgreSQL stops");
    let outage = Instant::now();
    // Promoted through the pause, then through the 30 s pause early.
    act(&d.addr, "promote");
    c.controller.settle(50);
    react(&c.store, &c.controller, 3);
    react(&c.store, &c.controller, 3);
    // The second promote is of the 30 s pause: sent once the dashboard
    // shows it (the API's promote acts on what the dashboard has seen, and
    // on a busy machine its view can be a step behind the controller).
    let addr = d.addr.clone();
    until("the dashboard shows the 30 s pause", move || {
        get_json(&addr, &format!("/api/v1/rollouts/{NS}/{NAME}/info"))
            .is_some_and(|i| i["status"] == "Paused" && i["step"] == "3/5")
    })
    .await;
    act(&d.addr, "promote");
    c.controller.settle(50);
    react(&c.store, &c.controller, 3);
    react(&c.store, &c.controller, 3);

    // Meanwhile the banner, /readyz and /metrics say the store fails.
    let admin = d.admin.clone();
    until("/metrics says the history's database fails", move || {
        metric(&admin, "rollouts_dashboard_history_store_failing") == Some(1.0)
    })
    .await;
    let admin = d.admin.clone();
    until("/metrics counts what is kept", move || {
        metric(&admin, "rollouts_dashboard_history_kept_changes").is_some_and(|n| n >= 1.0)
    })
    .await;
    let (status, ready) = http::get(&d.admin, "/readyz").expect("readyz answers");
    assert_eq!(status, 200, "the dashboard stays ready: {ready}");
    let ready: Value = serde_json::from_str(&ready).expect("JSON");
    assert!(
        ready["history"]["since"].is_string() && ready["history"]["kept"].as_u64() >= Some(1),
        "{ready}"
    );
    let overview = page(&d.addr, "/");
    assert!(
        overview.contains("Release history: its database fails"),
        "the banner says so"
    );
    let rollout_page = page(&d.addr, &format!("/rollouts/{NS}/{NAME}"));
    assert!(rollout_page.contains("Release history: its database fails"));

    // A minute without the database, then it returns.
    if let Some(left) = Duration::from_secs(60).checked_sub(outage.elapsed()) {
        tokio::time::sleep(left).await;
    }
    let up = pg.clone();
    tokio::task::spawn_blocking(move || up.start_again())
        .await
        .expect("PostgreSQL starts again");

    let r2 = until_revision(&d.addr, "2", "revision 2 promoted, recorded after", |r| {
        r["outcome"] == "promoted"
    })
    .await;
    assert_eq!(step_words(&r2), SEED_STEPS, "every step, in order: {r2}");
    let events = r2["events"].as_array().expect("events");
    let promotes: Vec<&Value> = events.iter().filter(|e| e["kind"] == "promote").collect();
    assert_eq!(promotes.len(), 2, "both promotes: {events:?}");
    for p in promotes {
        assert_eq!(p["by"], "alice", "{p}");
    }
    let position = |message: &str| {
        events
            .iter()
            .position(|e| e["message"] == message)
            .unwrap_or_else(|| panic!("{message}: {events:?}"))
    };
    assert!(
        position("Promoted at step 2") < position("Paused at step 4 for a set time"),
        "the promote is listed before the pause it led to: {events:?}"
    );
    let h = history(&d.addr);
    let gaps = h["gaps"].as_array().expect("gaps");
    assert_eq!(gaps.len(), 1, "{gaps:?}");
    assert_eq!(gaps[0]["lost"], false, "nothing was lost: {gaps:?}");
    assert!(
        seconds(&gaps[0]["from"], &gaps[0]["to"]) >= 55,
        "the outage's length: {gaps:?}"
    );
    let panel = page(&d.addr, &format!("/rollouts/{NS}/{NAME}/history"));
    assert!(
        panel.contains("The history database was unavailable from"),
        "the History panel shows it"
    );
    let releases = page(&d.addr, "/releases");
    assert!(releases.contains("The history database was unavailable from"));
    let admin = d.admin.clone();
    until("/metrics says it works again", move || {
        metric(&admin, "rollouts_dashboard_history_store_failing") == Some(0.0)
    })
    .await;
    assert!(!page(&d.addr, "/").contains("Release history: its database fails"));
    d.shut_down().await;
}

/// Who writes each cluster's history now, by the metrics of `replicas`:
/// how many write the dashboard's own cluster's, and how many prod-b's.
fn writers(replicas: &[String]) -> (usize, usize) {
    let count = |line: &str| {
        replicas
            .iter()
            .filter(|admin| metric(admin, line) == Some(1.0))
            .count()
    };
    (
        count("rollouts_dashboard_history_writer"),
        count("rollouts_dashboard_history_writer{cluster=\"prod-b\"}"),
    )
}

/// Two replicas that share PostgreSQL, each showing its own cluster and
/// prod-b (an Argo CD cluster Secret mounted as files), with the RBAC the
/// chart renders for that: each cluster's history has one writer (a Lease
/// each), a promote in prod-b is recorded once, under prod-b, and read
/// from either replica.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn replicas_sharing_postgres_write_each_clusters_history_once() {
    let pg = tokio::task::spawn_blocking(Postgres::start)
        .await
        .expect("PostgreSQL starts");
    let url = pg.database("history_clusters");
    let (sa, mut rbac) = teams::chart_rbac("argocd-mounts");
    rbac.push(serde_json::json!({
        "apiVersion": "v1", "kind": "Namespace", "metadata": {"name": CHART_NAMESPACE}
    }));
    let c = cluster_as(&sa, rbac).await;
    // prod-b: the two teams, where the dashboard has the chart's rights.
    let (sa_b, rbac_b) = teams::chart_rbac("default");
    let b = teams::cluster(&sa_b, rbac_b, Vec::new()).await;
    let dir = std::env::temp_dir().join(format!("rd-history-clusters-{}", std::process::id()));
    let secret = dir.join("cluster-prod-b");
    std::fs::create_dir_all(&secret).expect("a folder");
    for (key, text) in [
        ("name", "prod-b".to_string()),
        ("server", format!("http://{}", b.addr)),
        ("config", r#"{"bearerToken":"dashboard-token"}"#.to_string()),
    ] {
        std::fs::write(secret.join(key), text).expect("a key's file");
    }
    let mut replicas = Vec::new();
    for _ in 0..2 {
        replicas.push(
            dashboard_showing(&c, &url, AuthMode::None, CHART_NAMESPACE, Some(dir.clone())).await,
        );
    }
    let admins: Vec<String> = replicas.iter().map(|r| r.admin.clone()).collect();
    {
        let admins = admins.clone();
        until("one writer per cluster", move || writers(&admins) == (1, 1)).await;
    }
    for lease in [
        "rollouts-dashboard-history",
        "rollouts-dashboard-history-prod-b",
    ] {
        let held = c
            .store
            .get(rt("leases"), CHART_NAMESPACE, lease)
            .ok()
            .and_then(|l| {
                l.pointer("/spec/holderIdentity")?
                    .as_str()
                    .map(str::to_string)
            });
        assert!(held.is_some(), "{lease} is held");
    }

    // team-a/web in prod-b, promoted through the first replica.
    let (status, _, body) = http::request_with(
        &replicas[0].addr,
        "PUT",
        "/clusters/prod-b/api/v1/rollouts/team-a/web/promote",
        &[],
        "{}",
    )
    .expect("an answer");
    assert_eq!(status, 200, "{body}");
    teams::react(&b.store, &b.controller);
    let path = "/clusters/prod-b/api/v1/rollouts/team-a/web/history";
    let other = replicas[1].addr.clone();
    until("the promote, read from the other replica", move || {
        get_json(&other, path).is_some_and(|h| {
            h["revisions"].as_array().into_iter().flatten().any(|r| {
                r["events"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .any(|e| e["kind"] == "promote" && e["via"] == "dashboard")
            })
        })
    })
    .await;
    // Recorded once, and under prod-b only.
    let store = HistoryStore::open(&url).await.expect("the database");
    let web = rollouts_dashboard::model::RolloutKey::new("team-a", "web");
    let promotes = |h: &[rollouts_dashboard::history::RevisionRecord]| {
        h.iter()
            .flat_map(|r| &r.events)
            .filter(|e| e.kind == rollouts_dashboard::history::EventKind::Promote)
            .count()
    };
    let in_b = store
        .for_cluster("prod-b")
        .history(&web, 50)
        .await
        .expect("read");
    assert_eq!(promotes(&in_b), 1, "one promote recorded: {in_b:?}");
    let own = store.history(&web, 50).await.expect("read");
    assert!(
        own.is_empty(),
        "the dashboard's own cluster has no team-a/web"
    );
    let seed = harness::infos(&harness::sim_objects(&c.store)).len() as i64;
    let counts = store.counts().await.expect("counts");
    let rollouts = counts
        .iter()
        .find(|(n, _)| *n == "history_rollouts")
        .map_or(0, |(_, c)| *c);
    assert_eq!(rollouts, seed + 2, "each cluster's rollouts once");
    for r in replicas {
        r.shut_down().await;
    }
    let _ = std::fs::remove_dir_all(&dir);
}
