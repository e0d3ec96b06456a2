//! End-to-end benchmark: separate processes of the release binary on
//! loopback (`sim --scale N --no-controller`, `serve` against it), M
//! Server-Sent-Events clients on the overview stream (client c on page
//! c mod P + 1 of the P pages of 100), K status changes driven through the
//! sim's API at rate R, and a plain watch client on the sim as the floor.
//! Propagation latency = when a client whose page shows the changed
//! rollout got its card, minus when the floor saw the change.
//!
//! `cargo bench --bench e2e -- [--quick] [--rollouts N] [--clients M]
//! [--changes K] [--rate R]`. Prints one table; writes target/bench/e2e.json.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

mod support;

use rollouts_dashboard::sim::scale::{namespace, rollout_name};
use serde_json::{Value, json};
use support::{
    body_of, cpu_seconds, dashboard_addresses, flag, has, http, http_with, missed_any, percentile,
    proc_status, scale_sim, serve_args, spawn, stream_lines, wait_until,
};

struct Opts {
    sizes: Vec<usize>,
    clients: usize,
    changes: usize,
    rate: f64,
    idle: Duration,
    /// `--no-history`: the dashboard keeps no release history (to compare).
    history: bool,
}

fn opts() -> Opts {
    let quick = has("--quick");
    let sizes = match flag("--rollouts") {
        Some(n) => vec![n as usize],
        None if quick => vec![100, 1000],
        None => vec![100, 1000, 5000],
    };
    Opts {
        sizes,
        clients: flag("--clients").map_or(if quick { 50 } else { 200 }, |v| v as usize),
        changes: flag("--changes").map_or(if quick { 200 } else { 1000 }, |v| v as usize),
        rate: flag("--rate").unwrap_or(100.0),
        idle: Duration::from_secs(if quick { 16 } else { 31 }),
        history: !has("--no-history"),
    }
}

/// Cards per overview page (web/view/overview.rs).
const PAGE: usize = 100;

fn run(n: usize, o: &Opts) -> Value {
    let kubeconfig = std::env::temp_dir().join(format!("rd-bench-{}-{n}.yaml", std::process::id()));
    let kc = kubeconfig.display().to_string();
    let (_sim, sim) = scale_sim(n, &kc, false);
    // The release history as the product keeps it by default: SQLite.
    let history_file = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join(format!("target/bench/e2e-history-{n}.db"));
    let _ = std::fs::create_dir_all(history_file.parent().unwrap_or(std::path::Path::new(".")));
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", history_file.display()));
    }
    let history_db = if o.history {
        format!("sqlite://{}", history_file.display())
    } else {
        "off".to_string()
    };
    let started = Instant::now();
    let (dash, lines) = spawn(
        &serve_args(
            &kc,
            &history_db,
            &[
                "--log-format",
                "json",
                // Every client is on this one address, and many.
                "--max-streams-per-client",
                "1000000",
                "--max-streams",
                "1000000",
                "--max-connections",
                "1000000",
            ],
        ),
        "serving at",
    );
    let (main, admin) = dashboard_addresses(&lines);
    let pid = dash.0.id();
    wait_until("readyz", Duration::from_secs(120), || {
        http(&admin, "GET", "/readyz", "text/plain", "").0 == 200
    });
    let ready_s = started.elapsed().as_secs_f64();
    // Synced: the JSON list has every rollout; then the overview as a
    // person first gets it (its first page).
    let listed = |want: usize| {
        let (s, body) = http(
            &main,
            "GET",
            "/api/v1/rollouts/_all/info",
            "application/json",
            "",
        );
        s == 200
            && serde_json::from_slice::<Value>(&body_of(&body))
                .ok()
                .and_then(|v| v["rollouts"].as_array().map(Vec::len))
                == Some(want)
    };
    let overview_complete = {
        wait_until("every rollout listed", Duration::from_secs(120), || {
            listed(n)
        });
        started.elapsed().as_secs_f64()
    };
    let overview_bytes = {
        let (_, page) = http(&main, "GET", "/", "text/html", "");
        let body = body_of(&page);
        let cards = body.windows(14).filter(|w| w == b"<article class").count();
        assert_eq!(cards, n.min(PAGE), "the first page holds its cards");
        body.len()
    };
    let rss_synced = proc_status(pid, "VmRSS:");

    // The floor: a plain watch on the sim.
    let floor: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
    {
        let floor = floor.clone();
        stream_lines(
            &sim,
            "/apis/argoproj.io/v1alpha1/rollouts?watch=true",
            "application/json",
            move |line, _| {
                if let Some(i) = line.find("bench-") {
                    let tag: String = line[i..]
                        .chars()
                        .take_while(|c| c.is_ascii_alphanumeric() || *c == '-')
                        .collect();
                    floor
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .entry(tag)
                        .or_insert_with(Instant::now);
                }
            },
        );
    }
    // The clients: overview streams, recording when each change's card came.
    type Seen = Arc<Mutex<Vec<HashMap<String, Instant>>>>;
    let seen: Seen = Arc::new(Mutex::new(vec![HashMap::new(); o.clients]));
    let bytes: Arc<Mutex<Vec<usize>>> = Arc::new(Mutex::new(vec![0; o.clients]));
    let synced: Arc<Mutex<Vec<bool>>> = Arc::new(Mutex::new(vec![false; o.clients]));
    // The overview's order (namespace, then name) gives each rollout its
    // page; client c follows page c mod P + 1.
    let mut order: Vec<(String, String, usize)> =
        (0..n).map(|i| (namespace(i), rollout_name(i), i)).collect();
    order.sort();
    let mut page_of = vec![0; n];
    for (position, (_, _, i)) in order.iter().enumerate() {
        page_of[*i] = position / PAGE + 1;
    }
    let pages = n.div_ceil(PAGE).max(1);
    let client_page = |c: usize| c % pages + 1;
    for c in 0..o.clients {
        // Not all in the same millisecond (a thousand at once overflow the
        // listen queue of any server).
        if c % 50 == 49 {
            std::thread::sleep(Duration::from_millis(10));
        }
        let seen = seen.clone();
        let bytes = bytes.clone();
        let synced = synced.clone();
        stream_lines(
            &main,
            &format!("/stream/overview?page={}", client_page(c)),
            "text/event-stream",
            move |line, len| {
                bytes.lock().unwrap_or_else(|p| p.into_inner())[c] += len;
                if line.starts_with("event: resync") {
                    synced.lock().unwrap_or_else(|p| p.into_inner())[c] = true;
                }
                if let Some(i) = line.find("bench-") {
                    let tag: String = line[i..]
                        .chars()
                        .take_while(|ch| ch.is_ascii_alphanumeric() || *ch == '-')
                        .collect();
                    seen.lock().unwrap_or_else(|p| p.into_inner())[c]
                        .entry(tag)
                        .or_insert_with(Instant::now);
                }
            },
        );
    }
    // Changes start once every client has its first full view (the cards,
    // then `resync`): this measures propagation, not the first load.
    let connected = Instant::now();
    let all_synced = std::panic::catch_unwind(|| {
        wait_until(
            "every client's first full view",
            Duration::from_secs(120),
            || {
                synced
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .iter()
                    .all(|s| *s)
            },
        )
    });
    if all_synced.is_err() {
        // Which clients, and how far they got, says where to look.
        let synced = synced.lock().unwrap_or_else(|p| p.into_inner());
        let bytes = bytes.lock().unwrap_or_else(|p| p.into_inner());
        let behind: Vec<(usize, usize)> = (0..o.clients)
            .filter(|c| !synced[*c])
            .map(|c| (c, bytes[c]))
            .collect();
        panic!(
            "{} clients without their first full view (client, bytes read): {:?}",
            behind.len(),
            &behind[..behind.len().min(20)]
        );
    }
    let first_load_s = connected.elapsed().as_secs_f64();
    std::thread::sleep(Duration::from_secs(1));
    let rss_clients = proc_status(pid, "VmRSS:");

    // The changes.
    let cpu_before = cpu_seconds(pid);
    let gap = Duration::from_secs_f64(1.0 / o.rate);
    let t0 = Instant::now();
    let mut sent: HashMap<String, Instant> = HashMap::new();
    for k in 0..o.changes {
        let i = (k * 7919) % n;
        let (ns, name) = (namespace(i), rollout_name(i));
        let path = format!("/apis/argoproj.io/v1alpha1/namespaces/{ns}/rollouts/{name}/status");
        let body = json!({"status": {"phase": "Progressing", "message": format!("bench-{k}")}})
            .to_string();
        sent.insert(format!("bench-{k}"), Instant::now());
        let (status, _) = http(&sim, "PATCH", &path, "application/merge-patch+json", &body);
        assert_eq!(status, 200, "patching {ns}/{name}");
        let next = t0 + gap * (k as u32 + 1);
        if let Some(wait) = next.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
    }
    // Which changes each client shows: those to rollouts on its page.
    let expected: Vec<Vec<String>> = (0..o.clients)
        .map(|c| {
            (0..o.changes)
                .filter(|k| page_of[(k * 7919) % n] == client_page(c))
                .map(|k| format!("bench-{k}"))
                .collect()
        })
        .collect();
    let complete = || {
        let s = seen.lock().unwrap_or_else(|p| p.into_inner());
        s.iter()
            .zip(&expected)
            .all(|(c, tags)| tags.iter().all(|t| c.contains_key(t)))
    };
    let missed = missed_any(complete);
    let cpu = cpu_seconds(pid) - cpu_before;

    let floor = floor.lock().unwrap_or_else(|p| p.into_inner()).clone();
    let mut lat = Vec::new();
    let mut floor_lat: Vec<f64> = Vec::new();
    for (c, tags) in seen
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .iter()
        .zip(&expected)
    {
        for tag in tags {
            if let (Some(at), Some(f)) = (c.get(tag), floor.get(tag)) {
                lat.push(at.saturating_duration_since(*f).as_secs_f64() * 1000.0);
            }
        }
    }
    for (tag, f) in &floor {
        if let Some(at) = sent.get(tag) {
            floor_lat.push(f.saturating_duration_since(*at).as_secs_f64() * 1000.0);
        }
    }
    lat.sort_by(f64::total_cmp);
    floor_lat.sort_by(f64::total_cmp);

    // Idle: bytes per client per minute while nothing changes.
    let before: usize = bytes.lock().unwrap_or_else(|p| p.into_inner()).iter().sum();
    std::thread::sleep(o.idle);
    let after: usize = bytes.lock().unwrap_or_else(|p| p.into_inner()).iter().sum();
    let idle_per_min = (after - before) as f64 / o.clients as f64 * 60.0 / o.idle.as_secs_f64();

    // Pages and the JSON list under 50 concurrent requests; the list
    // also as browsers ask for it, gzipped.
    let timed = |path: &'static str, gzip: bool| {
        let main = main.clone();
        let handles: Vec<_> = (0..50)
            .map(|_| {
                let main = main.clone();
                std::thread::spawn(move || {
                    (0..4)
                        .map(|_| {
                            let t = Instant::now();
                            let encoding: &[(&str, &str)] = if gzip {
                                &[("Accept-Encoding", "gzip")]
                            } else {
                                &[]
                            };
                            http_with(&main, "GET", path, encoding, "");
                            t.elapsed().as_secs_f64() * 1000.0
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        let mut all: Vec<f64> = handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_default())
            .collect();
        all.sort_by(f64::total_cmp);
        (percentile(&all, 0.5), percentile(&all, 0.99))
    };
    let overview = timed("/", false);
    let list = timed("/api/v1/rollouts/_all/info", false);
    let list_gzip = timed("/api/v1/rollouts/_all/info", true);
    let rss_peak = proc_status(pid, "VmHWM:");
    let history_kb = ["", "-wal", "-shm"]
        .iter()
        .filter_map(|s| std::fs::metadata(format!("{}{s}", history_file.display())).ok())
        .map(|m| m.len())
        .sum::<u64>()
        / 1024;
    let objects = n * 8;
    let _ = std::fs::remove_file(&kubeconfig);
    json!({
        "rollouts": n, "objects": objects, "clients": o.clients, "changes": o.changes, "rate": o.rate,
        "latency_ms": {"p50": percentile(&lat, 0.5), "p95": percentile(&lat, 0.95), "p99": percentile(&lat, 0.99),
                        "max": lat.last().copied().unwrap_or(f64::NAN), "samples": lat.len()},
        "floor_ms": {"p50": percentile(&floor_lat, 0.5), "p99": percentile(&floor_lat, 0.99)},
        "missed_changes": missed,
        "ready_s": ready_s,
        "all_clients_first_view_s": first_load_s, "overview_complete_s": overview_complete,
        "rss_synced_kb": rss_synced, "rss_peak_kb": rss_peak,
        "rss_with_clients_kb": rss_clients,
        "kb_per_client": if o.clients > 0 { rss_clients.saturating_sub(rss_synced) as f64 / o.clients as f64 } else { 0.0 },
        "overview_bytes": overview_bytes,
        "bytes_per_object": (rss_synced as f64 * 1024.0 / objects as f64).round(),
        "cpu_s_per_1000_changes": cpu / o.changes as f64 * 1000.0,
        "idle_bytes_per_client_per_min": idle_per_min.round(),
        "overview_ms": {"p50": overview.0, "p99": overview.1},
        "list_ms": {"p50": list.0, "p99": list.1},
        "list_gzip_ms": {"p50": list_gzip.0, "p99": list_gzip.1},
        "elapsed_s": t0.elapsed().as_secs_f64(),
        "history": o.history,
        "history_db_kb": history_kb,
    })
}

fn main() {
    // `cargo bench` passes --bench; `cargo test --all-targets` runs this
    // file too, without it, and must not start a multi-minute benchmark.
    if !has("--bench") {
        println!("e2e: a benchmark; run it with `cargo bench --bench e2e`");
        return;
    }
    // Several clusters, each of --rollouts: the several-clusters run.
    if flag("--clusters").is_some() {
        support::clusters::run();
        return;
    }
    let o = opts();
    let results: Vec<Value> = o.sizes.iter().map(|&n| run(n, &o)).collect();
    println!();
    println!(
        "| rollouts | clients | changes | floor p50/p99 ms | p50 ms | p95 ms | p99 ms | max ms | missed | ready s | overview s | RSS synced MB | RSS peak MB | KB/client | B/object | CPU s/1000 changes | idle B/client/min | overview KB | overview p50/p99 ms | list p50/p99 ms | list gzip p50/p99 ms | history DB KB |"
    );
    println!(
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
    );
    for r in &results {
        let f = |p: &str| r.pointer(p).and_then(Value::as_f64).unwrap_or(f64::NAN);
        println!(
            "| {} | {} | {} | {:.1} / {:.1} | {:.1} | {:.1} | {:.1} | {:.1} | {} | {:.2} | {:.2} | {:.1} | {:.1} | {:.1} | {:.0} | {:.2} | {:.0} | {:.0} | {:.1} / {:.1} | {:.1} / {:.1} | {:.1} / {:.1} | {} |",
            r["rollouts"],
            r["clients"],
            r["changes"],
            f("/floor_ms/p50"),
            f("/floor_ms/p99"),
            f("/latency_ms/p50"),
            f("/latency_ms/p95"),
            f("/latency_ms/p99"),
            f("/latency_ms/max"),
            r["missed_changes"],
            f("/ready_s"),
            f("/overview_complete_s"),
            f("/rss_synced_kb") / 1024.0,
            f("/rss_peak_kb") / 1024.0,
            f("/kb_per_client"),
            f("/bytes_per_object"),
            f("/cpu_s_per_1000_changes"),
            f("/idle_bytes_per_client_per_min"),
            f("/overview_bytes") / 1024.0,
            f("/overview_ms/p50"),
            f("/overview_ms/p99"),
            f("/list_ms/p50"),
            f("/list_ms/p99"),
            f("/list_gzip_ms/p50"),
            f("/list_gzip_ms/p99"),
            if r["history"] == json!(true) {
                r["history_db_kb"].to_string()
            } else {
                "off".to_string()
            },
        );
    }
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bench");
    let _ = std::fs::create_dir_all(&dir);
    let _ = std::fs::write(
        dir.join("e2e.json"),
        serde_json::to_string_pretty(&results).unwrap_or_default(),
    );
}
