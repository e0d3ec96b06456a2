//! The several-clusters benchmark, run by `cargo bench --bench clusters`
//! and by `cargo bench --bench e2e -- --clusters C`.
//! What it measures: see benches/clusters.rs.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::{
    body_of, dashboard_addresses, flag, http, missed_any, percentile, proc_status, scale_sim,
    serve_args, spawn, stream_lines, wait_until,
};
use rollouts_dashboard::sim::scale::{namespace, rollout_name};
use serde_json::{Value, json};

/// Cards per overview page (web/view/overview.rs).
const PAGE: usize = 100;

type Seen = Arc<Mutex<HashMap<String, Instant>>>;

/// A kubeconfig with a context `c{i}` per sim address.
fn kubeconfig(path: &str, sims: &[String]) {
    let mut text = String::from("apiVersion: v1\nkind: Config\ncurrent-context: c1\nclusters:\n");
    for (i, s) in sims.iter().enumerate() {
        text.push_str(&format!(
            "- name: c{}\n  cluster: {{server: \"http://{s}\"}}\n",
            i + 1
        ));
    }
    text.push_str("contexts:\n");
    for i in 1..=sims.len() {
        text.push_str(&format!(
            "- name: c{i}\n  context: {{cluster: c{i}, user: sim, namespace: default}}\n"
        ));
    }
    text.push_str("users:\n- name: sim\n  user: {}\n");
    std::fs::write(path, text).expect("the kubeconfig is written");
}

/// `serve` on `contexts` of `kc`, no history: the process, its main and
/// admin addresses.
fn serve(kc: &str, contexts: &[String]) -> (super::Proc, String, String) {
    serve_keeping(kc, contexts, "off")
}

/// As `serve`, keeping the release history in `history_db`.
fn serve_keeping(kc: &str, contexts: &[String], history_db: &str) -> (super::Proc, String, String) {
    let mut extra = vec![
        "--max-streams-per-client",
        "1000000",
        "--max-streams",
        "1000000",
    ];
    for c in contexts {
        extra.extend(["--context", c.as_str()]);
    }
    let (proc, lines) = spawn(&serve_args(kc, history_db, &extra), "serving at");
    let (main, admin) = dashboard_addresses(&lines);
    (proc, main, admin)
}

/// How many rollouts `path`'s list holds.
fn listed(main: &str, path: &str) -> usize {
    let (s, body) = http(main, "GET", path, "application/json", "");
    if s != 200 {
        return 0;
    }
    serde_json::from_slice::<Value>(&body_of(&body))
        .ok()
        .and_then(|v| v["rollouts"].as_array().map(Vec::len))
        .unwrap_or(0)
}

/// p50 and p99 (ms) of `rounds` × 50 concurrent GETs of `path`.
fn under_load(main: &str, path: &str, rounds: usize) -> (f64, f64) {
    let times: Arc<Mutex<Vec<f64>>> = Arc::default();
    for _ in 0..rounds {
        let threads: Vec<_> = (0..50)
            .map(|_| {
                let (main, path, times) = (main.to_string(), path.to_string(), times.clone());
                std::thread::spawn(move || {
                    let t = Instant::now();
                    let (s, _) = http(&main, "GET", &path, "text/html", "");
                    assert_eq!(s, 200, "{path}");
                    let ms = t.elapsed().as_secs_f64() * 1000.0;
                    times.lock().unwrap_or_else(|p| p.into_inner()).push(ms);
                })
            })
            .collect();
        for t in threads {
            let _ = t.join();
        }
    }
    let mut t = times.lock().unwrap_or_else(|p| p.into_inner()).clone();
    t.sort_by(f64::total_cmp);
    (percentile(&t, 0.5), percentile(&t, 0.99))
}

/// Records the first time a line carrying a `bench-…` tag was read.
fn tag_seen(seen: &Seen) -> impl Fn(&str, usize) + Send + 'static {
    let seen = seen.clone();
    move |line, _| {
        if let Some(i) = line.find("bench-") {
            let tag: String = line[i..]
                .chars()
                .take_while(|ch| ch.is_ascii_alphanumeric() || *ch == '-')
                .collect();
            seen.lock()
                .unwrap_or_else(|p| p.into_inner())
                .entry(tag)
                .or_insert_with(Instant::now);
        }
    }
}

/// Every cluster again, now keeping each one's release history in one
/// SQLite file: RSS once every cluster is listed and each recorder has
/// written its rollouts, and the file's size then.
fn with_history(kc: &str, names: &[String], n: usize) -> (f64, u64) {
    let db = std::env::temp_dir().join(format!("rd-bench-clusters-{}.db", std::process::id()));
    let _ = std::fs::remove_file(&db);
    let url = format!("sqlite://{}", db.display());
    let (dash, main, _) = serve_keeping(kc, names, &url);
    wait_until(
        "every cluster listed, history on",
        Duration::from_secs(180),
        || {
            names
                .iter()
                .all(|c| listed(&main, &format!("/api/v1/clusters/{c}/rollouts/_all/info")) == n)
        },
    );
    // The recorders have written what they saw when the file stops
    // growing.
    let size = || {
        ["", "-wal"]
            .iter()
            .filter_map(|suffix| std::fs::metadata(format!("{}{suffix}", db.display())).ok())
            .map(|m| m.len())
            .sum::<u64>()
    };
    let last = std::cell::Cell::new((0, 0));
    wait_until("the history written", Duration::from_secs(180), || {
        std::thread::sleep(Duration::from_millis(500));
        let (now, (before, steady)) = (size(), last.get());
        last.set(if now == before {
            (now, steady + 1)
        } else {
            (now, 0)
        });
        now > 0 && last.get().1 >= 6
    });
    std::thread::sleep(Duration::from_secs(1));
    let rss = proc_status(dash.0.id(), "VmRSS:") as f64 / 1024.0;
    drop(dash);
    let kb = size() / 1024;
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", db.display()));
    }
    (rss, kb)
}

/// The benchmark: prints its table, writes target/bench/clusters.json.
pub fn run() {
    let clusters = flag("--clusters").map_or(3, |v| v as usize).max(2);
    let n = flag("--rollouts").map_or(2000, |v| v as usize);
    let clients = flag("--clients").map_or(60, |v| v as usize);
    let changes = flag("--changes").map_or(600, |v| v as usize);
    let rate = flag("--rate").unwrap_or(100.0);
    let dir = std::env::temp_dir();
    let mut sims = Vec::new();
    let mut addrs = Vec::new();
    for i in 0..clusters {
        let own = dir.join(format!("rd-bench-clusters-{}-{i}.yaml", std::process::id()));
        let (proc, addr) = scale_sim(n, &own.display().to_string(), false);
        sims.push(proc);
        addrs.push(addr);
    }
    let kc = dir
        .join(format!("rd-bench-clusters-{}.yaml", std::process::id()))
        .display()
        .to_string();
    kubeconfig(&kc, &addrs);
    let names: Vec<String> = (1..=clusters).map(|i| format!("c{i}")).collect();

    // One cluster alone, for what each further cluster adds.
    let (single, main, _) = serve(&kc, &names[..1]);
    wait_until("one cluster listed", Duration::from_secs(120), || {
        listed(&main, "/api/v1/rollouts/_all/info") == n
    });
    std::thread::sleep(Duration::from_secs(1));
    let rss_one = proc_status(single.0.id(), "VmRSS:") as f64 / 1024.0;
    drop(single);

    let started = Instant::now();
    let (dash, main, _) = serve(&kc, &names);
    let pid = dash.0.id();
    wait_until("every cluster listed", Duration::from_secs(180), || {
        names
            .iter()
            .all(|c| listed(&main, &format!("/api/v1/clusters/{c}/rollouts/_all/info")) == n)
    });
    let ready_s = started.elapsed().as_secs_f64();
    std::thread::sleep(Duration::from_secs(1));
    let rss_synced = proc_status(pid, "VmRSS:") as f64 / 1024.0;
    let (all_p50, all_p99) = under_load(&main, "/", 4);
    let (one_p50, one_p99) = under_load(&main, "/clusters/c2/", 4);

    // The floor: a plain watch on each sim.
    let floor: Seen = Arc::default();
    for addr in &addrs {
        stream_lines(
            addr,
            "/apis/argoproj.io/v1alpha1/rollouts?watch=true",
            "application/json",
            tag_seen(&floor),
        );
    }
    // Clients on the first page of each cluster's overview; the changes
    // go to rollouts on it.
    let mut order: Vec<(String, String, usize)> =
        (0..n).map(|i| (namespace(i), rollout_name(i), i)).collect();
    order.sort();
    let first_page: Vec<usize> = order.iter().take(PAGE).map(|(_, _, i)| *i).collect();
    let seen: Vec<Seen> = (0..clients).map(|_| Seen::default()).collect();
    for (c, s) in seen.iter().enumerate() {
        stream_lines(
            &main,
            &format!("/clusters/{}/stream/overview", names[c % clusters]),
            "text/event-stream",
            tag_seen(s),
        );
    }
    std::thread::sleep(Duration::from_secs(3));
    let gap = Duration::from_secs_f64(1.0 / rate);
    let t0 = Instant::now();
    for k in 0..changes {
        let cluster = k % clusters;
        let i = first_page[(k / clusters) % first_page.len()];
        let (ns, name) = (namespace(i), rollout_name(i));
        let path = format!("/apis/argoproj.io/v1alpha1/namespaces/{ns}/rollouts/{name}/status");
        let body =
            json!({"status": {"phase": "Progressing", "message": format!("bench-{cluster}x{k}")}})
                .to_string();
        let (status, _) = http(
            &addrs[cluster],
            "PATCH",
            &path,
            "application/merge-patch+json",
            &body,
        );
        assert_eq!(status, 200, "patching {ns}/{name}");
        if let Some(wait) = (t0 + gap * (k as u32 + 1)).checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
    }
    let expected = |c: usize| -> Vec<String> {
        (0..changes)
            .filter(|k| k % clusters == c % clusters)
            .map(|k| format!("bench-{}x{k}", k % clusters))
            .collect()
    };
    let complete = || {
        seen.iter().enumerate().all(|(c, s)| {
            let s = s.lock().unwrap_or_else(|p| p.into_inner());
            expected(c).iter().all(|t| s.contains_key(t))
        })
    };
    let missed = missed_any(complete);
    let floor = floor.lock().unwrap_or_else(|p| p.into_inner()).clone();
    let mut lat = Vec::new();
    for (c, s) in seen.iter().enumerate() {
        let s = s.lock().unwrap_or_else(|p| p.into_inner());
        for tag in expected(c) {
            if let (Some(at), Some(f)) = (s.get(&tag), floor.get(&tag)) {
                lat.push(at.saturating_duration_since(*f).as_secs_f64() * 1000.0);
            }
        }
    }
    lat.sort_by(f64::total_cmp);
    let rss_peak = proc_status(pid, "VmHWM:") as f64 / 1024.0;
    drop(dash);
    let (rss_history, history_kb) = with_history(&kc, &names, n);
    let row = json!({
        "clusters": clusters, "rollouts_each": n, "clients": clients, "changes": changes,
        "ready_s": ready_s, "rss_one_cluster_mb": rss_one, "rss_synced_mb": rss_synced,
        "rss_peak_mb": rss_peak,
        "mb_per_further_cluster": (rss_synced - rss_one) / (clusters - 1) as f64,
        "overview_all_p50_ms": all_p50, "overview_all_p99_ms": all_p99,
        "overview_one_p50_ms": one_p50, "overview_one_p99_ms": one_p99,
        "propagation_p50_ms": percentile(&lat, 0.5), "propagation_p99_ms": percentile(&lat, 0.99),
        "missed": missed, "rss_synced_with_history_mb": rss_history, "history_db_kb": history_kb,
    });
    println!(
        "| clusters × rollouts | clients | ready s | RSS one cluster / all synced / peak MB | MB per further cluster | overview of all p50/p99 ms | one cluster's overview p50/p99 ms | propagation p50/p99 ms | missed | RSS synced, each cluster's history kept (SQLite) MB | history DB KB |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|");
    println!(
        "| {clusters} × {n} | {clients} | {ready_s:.2} | {rss_one:.1} / {rss_synced:.1} / {rss_peak:.1} | {:.1} | {all_p50:.1} / {all_p99:.1} | {one_p50:.1} / {one_p99:.1} | {:.1} / {:.1} | {missed} | {rss_history:.1} | {history_kb} |",
        (rss_synced - rss_one) / (clusters - 1) as f64,
        percentile(&lat, 0.5),
        percentile(&lat, 0.99),
    );
    let out = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bench");
    let _ = std::fs::create_dir_all(&out);
    let _ = std::fs::write(out.join("clusters.json"), row.to_string());
    drop(sims);
    let _ = std::fs::remove_file(&kc);
}
