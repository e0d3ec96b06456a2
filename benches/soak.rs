//! Soak: the release binary against `sim --scale N --no-controller` for
//! some minutes while this process changes rollouts and pods through the
//! sim's API, M clients follow the overview's pages, and the API server
//! throws its faults in turn (dropped watches, expired versions and a
//! relist, bursts of 500s, a 503 outage, a restart). Then the changes stop
//! and the report says what a person would check: does the view equal the
//! cluster, does every client still get changes, what became of memory,
//! what the log said, how fast SIGTERM ended it with the streams open.
//!
//! `cargo bench --bench soak -- [--quick] [--rollouts N] [--clients M]
//! [--minutes T] [--rate R]`. Prints one table; writes
//! target/bench/soak.json.

mod support;

use std::collections::HashMap;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rollouts_dashboard::info::{PodRecord, RolloutObjects, rollout_info};
use rollouts_dashboard::model::{Pod, ReplicaSet, Rollout};
use rollouts_dashboard::sim::scale::{namespace, rollout_name};
use serde_json::{Value, json};
use support::{
    BIN, Proc, body_of, dashboard_addresses, flag, has, http, proc_status, scale_sim, serve_args,
    stream_lines, wait_until,
};

/// Cards per overview page (web/view/overview.rs).
const PAGE: usize = 100;

struct Opts {
    rollouts: usize,
    clients: usize,
    duration: Duration,
    rate: f64,
}

fn opts() -> Opts {
    let quick = has("--quick");
    Opts {
        rollouts: flag("--rollouts").map_or(1000, |v| v as usize),
        clients: flag("--clients").map_or(100, |v| v as usize),
        duration: Duration::from_secs_f64(
            flag("--minutes").unwrap_or(if quick { 1.0 } else { 10.0 }) * 60.0,
        ),
        rate: flag("--rate").unwrap_or(50.0),
    }
}

fn post(sim: &str, path: &str, body: &str) -> u16 {
    http(sim, "POST", path, "application/json", body).0
}

/// Each fault as the sim's control API takes it: what to post, in order.
const FAULTS: [&[(&str, &str)]; 5] = [
    // Dropped watches: resume from the last version.
    &[("/sim/v1/watches/close", "{}")],
    // History compacted: 410, a relist in pages.
    &[("/sim/v1/expire", "{}"), ("/sim/v1/watches/close", "{}")],
    // A burst of 500s on whatever asks next.
    &[
        (
            "/sim/v1/faults",
            r#"{"failNext": {"count": 50, "code": 500}}"#,
        ),
        ("/sim/v1/watches/close", "{}"),
    ],
    // Five seconds of outage.
    &[
        (
            "/sim/v1/faults",
            r#"{"failFor": {"ms": 5000, "code": 503}}"#,
        ),
        ("/sim/v1/watches/close", "{}"),
    ],
    // The API server restarts.
    &[("/sim/v1/restart", "{}")],
];

/// The faults in turn, one every `every`, until `stop`; how many were sent.
fn faults(sim: String, every: Duration, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<usize> {
    std::thread::spawn(move || {
        let mut sent = 0;
        let mut next = Instant::now() + every;
        while !stop.load(Ordering::Relaxed) {
            if Instant::now() < next {
                std::thread::sleep(Duration::from_millis(50));
                continue;
            }
            for (path, body) in FAULTS[sent % FAULTS.len()] {
                post(&sim, path, body);
            }
            sent += 1;
            next += every;
        }
        sent
    })
}

/// Changes at `rate` until `stop`: a rollout's step and message, then its
/// canary pod's readiness, round robin. Returns (sent, refused by faults).
fn churn(
    sim: String,
    n: usize,
    rate: f64,
    stop: Arc<AtomicBool>,
) -> std::thread::JoinHandle<(usize, usize)> {
    std::thread::spawn(move || {
        let gap = Duration::from_secs_f64(1.0 / rate);
        let t0 = Instant::now();
        let (mut sent, mut refused) = (0usize, 0usize);
        let mut k = 0usize;
        while !stop.load(Ordering::Relaxed) {
            let i = (k / 2 * 7919) % n;
            let (ns, name) = (namespace(i), rollout_name(i));
            let (path, body) = if k.is_multiple_of(2) {
                (
                    format!("/apis/argoproj.io/v1alpha1/namespaces/{ns}/rollouts/{name}/status"),
                    json!({"status": {"currentStepIndex": (k / 2) % 4, "message": format!("soak-{k}")}}),
                )
            } else {
                (
                    format!("/api/v1/namespaces/{ns}/pods/{name}-c{i:x}-0/status"),
                    json!({"status": {"containerStatuses": [{"name": "app", "ready": !(k / 2).is_multiple_of(3),
                        "restartCount": 0, "state": {"running": {}}}]}}),
                )
            };
            let (status, _) = http(
                &sim,
                "PATCH",
                &path,
                "application/merge-patch+json",
                &body.to_string(),
            );
            sent += 1;
            if status != 200 {
                refused += 1;
            }
            k += 1;
            let next = t0 + gap.mul_f64(k as f64);
            if let Some(wait) = next.checked_duration_since(Instant::now()) {
                std::thread::sleep(wait);
            }
        }
        (sent, refused)
    })
}

fn items(sim: &str, path: &str) -> Vec<Value> {
    let (_, body) = http(sim, "GET", path, "application/json", "");
    serde_json::from_slice::<Value>(&body_of(&body))
        .ok()
        .and_then(|v| v["items"].as_array().cloned())
        .unwrap_or_default()
}

/// Each rollout as `info/` computes it from the sim's objects now, as JSON
/// in the list form (no runs or experiments), by namespace/name.
fn cluster_view(sim: &str) -> HashMap<String, Value> {
    let parse = |path: &str, kind: &str| -> Vec<Value> {
        items(sim, path)
            .into_iter()
            .map(|mut o| {
                o["kind"] = json!(kind);
                o
            })
            .collect()
    };
    let rollouts: Vec<Rollout> = parse("/apis/argoproj.io/v1alpha1/rollouts", "Rollout")
        .into_iter()
        .filter_map(|v| serde_json::from_value(v).ok())
        .collect();
    let sets: Vec<ReplicaSet> = parse("/apis/apps/v1/replicasets", "ReplicaSet")
        .into_iter()
        .filter_map(|v| serde_json::from_value(v).ok())
        .collect();
    let pods: Vec<Pod> = parse("/api/v1/pods", "Pod")
        .into_iter()
        .filter_map(|v| serde_json::from_value(v).ok())
        .collect();
    let records: Vec<PodRecord> = pods.iter().map(PodRecord::of).collect();
    // The scale scenario labels everything of a rollout app=<name>.
    let app = |labels: &Option<std::collections::BTreeMap<String, String>>| {
        labels
            .as_ref()
            .and_then(|l| l.get("app"))
            .cloned()
            .unwrap_or_default()
    };
    let mut sets_of: HashMap<(String, String), Vec<&ReplicaSet>> = HashMap::new();
    for rs in &sets {
        let ns = rs.metadata.namespace.clone().unwrap_or_default();
        sets_of
            .entry((ns, app(&rs.metadata.labels)))
            .or_default()
            .push(rs);
    }
    let mut pods_of: HashMap<(String, String), Vec<&PodRecord>> = HashMap::new();
    for (pod, record) in pods.iter().zip(&records) {
        let ns = pod.metadata.namespace.clone().unwrap_or_default();
        pods_of
            .entry((ns, app(&pod.metadata.labels)))
            .or_default()
            .push(record);
    }
    rollouts
        .iter()
        .map(|ro| {
            let ns = ro.metadata.namespace.clone().unwrap_or_default();
            let name = ro.metadata.name.clone().unwrap_or_default();
            let key = (ns.clone(), name.clone());
            let info = rollout_info(RolloutObjects {
                replica_sets: sets_of.get(&key).map_or(&[][..], Vec::as_slice),
                pods: pods_of.get(&key).map_or(&[][..], Vec::as_slice),
                ..RolloutObjects::new(ro)
            });
            (
                format!("{ns}/{name}"),
                list_form(serde_json::to_value(&info).unwrap_or_default()),
            )
        })
        .collect()
}

fn list_form(mut v: Value) -> Value {
    if let Some(m) = v.as_object_mut() {
        m.remove("experiments");
        m.remove("analysisRuns");
    }
    v
}

/// What the dashboard's JSON list shows, by namespace/name.
fn dashboard_view(main: &str) -> HashMap<String, Value> {
    let (_, body) = http(
        main,
        "GET",
        "/api/v1/rollouts/_all/info",
        "application/json",
        "",
    );
    let list: Value = serde_json::from_slice(&body_of(&body)).unwrap_or_default();
    list["rollouts"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|r| {
            let ns = r
                .pointer("/objectMeta/namespace")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let name = r
                .pointer("/objectMeta/name")
                .and_then(Value::as_str)
                .unwrap_or_default();
            (format!("{ns}/{name}"), list_form(r.clone()))
        })
        .collect()
}

/// How many rollouts differ between the two views.
fn differences(shown: &HashMap<String, Value>, cluster: &HashMap<String, Value>) -> usize {
    let missing = cluster.keys().filter(|k| !shown.contains_key(*k)).count();
    let extra = shown.keys().filter(|k| !cluster.contains_key(*k)).count();
    let changed = cluster
        .iter()
        .filter(|(k, v)| shown.get(*k).is_some_and(|s| s != *v))
        .count();
    missing + extra + changed
}

fn main() {
    // `cargo bench` passes --bench; `cargo test --all-targets` runs this
    // file too, without it, and must not start a ten-minute benchmark.
    if !has("--bench") {
        println!("soak: a benchmark; run it with `cargo bench --bench soak`");
        return;
    }
    let o = opts();
    let n = o.rollouts;
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bench");
    let _ = std::fs::create_dir_all(&dir);
    let kubeconfig = dir.join("soak-kubeconfig.yaml");
    let kc = kubeconfig.display().to_string();
    let (_sim, sim) = scale_sim(n, &kc, false);
    let history = dir.join("soak-history.db");
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", history.display()));
    }
    let log = dir.join("soak.log");
    let history_db = format!("sqlite://{}", history.display());
    let child = Command::new(BIN)
        .args(serve_args(
            &kc,
            &history_db,
            // Every client is on this one address.
            &[
                "--max-streams-per-client",
                "100000",
                "--max-streams",
                "100000",
            ],
        ))
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&log).map_or(Stdio::null(), Stdio::from))
        .spawn()
        .expect("the release binary runs");
    let mut dash = Proc(child);
    let lines = support::lines_until(&mut dash, "serving at");
    let pid = dash.0.id();
    let rss_start = proc_status(pid, "VmRSS:");
    let (main, admin) = dashboard_addresses(&lines);
    wait_until("readyz", Duration::from_secs(120), || {
        http(&admin, "GET", "/readyz", "text/plain", "").0 == 200
    });
    wait_until("every rollout listed", Duration::from_secs(120), || {
        dashboard_view(&main).len() == n
    });
    let rss_synced = proc_status(pid, "VmRSS:");

    // The clients: client c follows page c mod P + 1; each remembers the
    // last time a line came and which final tags it saw.
    let pages = n.div_ceil(PAGE).max(1);
    let client_page = |c: usize| c % pages + 1;
    let finals: Arc<Mutex<Vec<Option<Instant>>>> = Arc::new(Mutex::new(vec![None; o.clients]));
    let open = Arc::new(AtomicUsize::new(0));
    for c in 0..o.clients {
        let finals = finals.clone();
        let open = open.clone();
        let page = client_page(c);
        stream_lines(
            &main,
            &format!("/stream/overview?page={page}"),
            "text/event-stream",
            move |line, _| {
                if line.starts_with("event: resync") {
                    open.fetch_add(1, Ordering::Relaxed);
                }
                if line.contains(&format!("soak-final-{page}-")) {
                    finals.lock().unwrap_or_else(|p| p.into_inner())[c]
                        .get_or_insert_with(Instant::now);
                }
            },
        );
    }
    wait_until(
        "every client's first view",
        Duration::from_secs(120),
        || open.load(Ordering::Relaxed) >= o.clients,
    );

    // The soak.
    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let changes = churn(sim.clone(), n, o.rate, stop.clone());
    let fault_count = faults(sim.clone(), o.duration / 10, stop.clone());
    // RSS each tenth of the way: does it level off or keep growing?
    let mut rss_series = Vec::new();
    for tenth in 1..=10u32 {
        let until = started + o.duration.mul_f64(f64::from(tenth) / 10.0);
        if let Some(wait) = until.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
        rss_series.push(proc_status(pid, "VmRSS:") / 1024);
    }
    stop.store(true, Ordering::Relaxed);
    let (sent, refused) = changes.join().unwrap_or_default();
    let fault_count = fault_count.join().unwrap_or_default();
    post(&sim, "/sim/v1/faults", r#"{"clear": true}"#);
    let rss_after_soak = proc_status(pid, "VmRSS:");

    // Quiet: the view must come to equal the cluster by itself.
    let quiet = Instant::now();
    let cluster = cluster_view(&sim);
    let mut left = usize::MAX;
    while quiet.elapsed() < Duration::from_secs(60) {
        left = differences(&dashboard_view(&main), &cluster);
        if left == 0 {
            break;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    let settled_s = quiet.elapsed().as_secs_f64();

    // One last change on every page: does every client still get it?
    let mut order: Vec<(String, String)> =
        (0..n).map(|i| (namespace(i), rollout_name(i))).collect();
    order.sort();
    let sent_final = Instant::now();
    for page in 1..=pages {
        if let Some((ns, name)) = order.get((page - 1) * PAGE) {
            let path = format!("/apis/argoproj.io/v1alpha1/namespaces/{ns}/rollouts/{name}/status");
            let body =
                json!({"status": {"message": format!("soak-final-{page}-done")}}).to_string();
            http(&sim, "PATCH", &path, "application/merge-patch+json", &body);
        }
    }
    let delivered = || {
        finals
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .filter(|f| f.is_some())
            .count()
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    while delivered() < o.clients && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let got = delivered();
    let slowest_ms = finals
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .iter()
        .flatten()
        .map(|t| t.saturating_duration_since(sent_final).as_secs_f64() * 1000.0)
        .fold(0.0, f64::max);
    std::thread::sleep(Duration::from_secs(3));
    let rss_end = proc_status(pid, "VmRSS:");
    let rss_peak = proc_status(pid, "VmHWM:");

    // SIGTERM with every stream open.
    let term = Instant::now();
    let _ = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status();
    let mut exit = None;
    while term.elapsed() < Duration::from_secs(30) {
        if let Ok(Some(status)) = dash.0.try_wait() {
            exit = Some(status);
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let term_s = term.elapsed().as_secs_f64();
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    let count = |needle: &str| text.lines().filter(|l| l.contains(needle)).count();

    let r = json!({
        "rollouts": n, "clients": o.clients, "minutes": started.elapsed().as_secs_f64() / 60.0,
        "changes_sent": sent, "changes_refused_by_faults": refused, "faults": fault_count,
        "view_equals_cluster": left == 0, "rollouts_differing": left, "settled_s": settled_s,
        "clients_delivering": got, "final_change_slowest_ms": slowest_ms,
        "rss_start_kb": rss_start, "rss_synced_kb": rss_synced, "rss_after_soak_kb": rss_after_soak,
        "rss_end_kb": rss_end, "rss_peak_kb": rss_peak,
        "rss_each_tenth_mb": rss_series,
        "log_errors": count("ERROR"), "log_warnings": count("WARN"), "panics": count("panicked"),
        "sigterm_exit_s": term_s, "exited_cleanly": exit.is_some_and(|s| s.success()),
    });
    let mb = |p: &str| r[p].as_f64().unwrap_or(f64::NAN) / 1024.0;
    println!();
    println!(
        "| rollouts | clients | minutes | changes (refused) | faults | view == cluster | settled s | clients delivering | slowest ms | RSS start / synced / after soak / end / peak MB | ERROR / WARN lines | panics | SIGTERM s |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|---|");
    println!(
        "| {n} | {} | {:.1} | {sent} ({refused}) | {fault_count} | {} | {settled_s:.1} | {got} of {} | {slowest_ms:.0} | {:.1} / {:.1} / {:.1} / {:.1} / {:.1} | {} / {} | {} | {term_s:.2}{} |",
        o.clients,
        started.elapsed().as_secs_f64() / 60.0,
        if left == 0 {
            "yes".to_string()
        } else {
            format!("no: {left} differ")
        },
        o.clients,
        mb("rss_start_kb"),
        mb("rss_synced_kb"),
        mb("rss_after_soak_kb"),
        mb("rss_end_kb"),
        mb("rss_peak_kb"),
        r["log_errors"],
        r["log_warnings"],
        r["panics"],
        if r["exited_cleanly"] == json!(true) {
            ""
        } else {
            " (not clean)"
        },
    );
    println!();
    println!(
        "RSS (MB) at each tenth of the soak: {}",
        r["rss_each_tenth_mb"]
            .as_array()
            .into_iter()
            .flatten()
            .map(Value::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    );
    let _ = std::fs::write(
        dir.join("soak.json"),
        serde_json::to_string_pretty(&r).unwrap_or_default(),
    );
}
