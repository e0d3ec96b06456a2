//! What observed traffic and the canary-against-stable verdict cost at
//! scale, on the release binary with Debian's Prometheus: `sim --scale N
//! --no-controller` (5 pods per rollout, a canary beside stable, every pod
//! in the simulated mesh and on its node: ~24 mesh and 4 node series per
//! pod), scraped every `--scrape` seconds; `serve` against both with
//! `--prometheus-interval`. Over `--refreshes` refreshes (each seen as a
//! new `updatedAt` on a rollout's `/observed`) it counts what Prometheus
//! answered the dashboard (Prometheus's own `prometheus_http_requests_total`
//! per handler), how long Prometheus took per query and how many bytes it
//! sent (its request-duration and response-size summaries), and the
//! dashboard's CPU per refresh and resident memory, against the same
//! dashboard without Prometheus. The sim holds still, so the dashboard's
//! work in between is the refreshes'.
//!
//! `cargo bench --bench observed -- [--rollouts N] [--refreshes R]
//! [--interval SECONDS] [--scrape SECONDS]`. Prints one table; writes
//! target/bench/observed.json.

mod support;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::{Proc, cpu_seconds, flag, has, rss_mib, spawn};

/// A GET over plain HTTP/1.1, the status and the body.
fn get(addr: &str, path: &str) -> (u16, String) {
    let (status, response) = support::http(addr, "GET", path, "text/plain", "");
    (
        status,
        String::from_utf8_lossy(&support::body_of(&response)).into_owned(),
    )
}

fn json_of(addr: &str, path: &str) -> Value {
    serde_json::from_str(&get(addr, path).1).unwrap_or(Value::Null)
}

/// A PromQL instant query's single value.
fn promql(prometheus: &str, query: &str) -> f64 {
    let q: String = query
        .bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect();
    json_of(prometheus, &format!("/api/v1/query?query={q}"))["data"]["result"][0]["value"][1]
        .as_str()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0)
}

/// Prometheus's own counters for one handler: requests answered, seconds
/// spent, bytes sent.
fn handler_totals(prometheus: &str, handler: &str) -> (f64, f64, f64) {
    let text = get(prometheus, "/metrics").1;
    let sum = |name: &str| -> f64 {
        text.lines()
            .filter(|l| l.starts_with(name) && l.contains(&format!("handler=\"{handler}\"")))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    };
    (
        sum("prometheus_http_requests_total{"),
        sum("prometheus_http_request_duration_seconds_sum{"),
        sum("prometheus_http_response_size_bytes_sum{"),
    )
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// Waits up to `limit` for `ok`, polling every 200 ms.
fn wait_for(what: &str, limit: Duration, ok: impl Fn() -> bool) {
    let start = Instant::now();
    while !ok() {
        assert!(start.elapsed() < limit, "gave up waiting for {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn main() {
    if !has("--bench") {
        println!("observed: a benchmark; run it with `cargo bench --bench observed`");
        return;
    }
    let n = flag("--rollouts").map_or(5000, |v| v as usize);
    let refreshes = flag("--refreshes").map_or(6, |v| v as u64);
    let interval = flag("--interval").map_or(10, |v| v as u64);
    let scrape = flag("--scrape").map_or(15, |v| v as u64);
    let dir = std::env::temp_dir().join(format!("rd-observed-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("a folder");
    let kc = dir.join("kubeconfig.yaml").display().to_string();
    let config = dir.join("prometheus.yml");
    let n_text = n.to_string();
    let (_sim, sim_lines) = spawn(
        &[
            "sim",
            "--scale",
            &n_text,
            "--no-controller",
            "--listen",
            "127.0.0.1:0",
            "--kubeconfig-out",
            &kc,
            "--prometheus-config-out",
            &config.display().to_string(),
        ],
        "simulated cluster at",
    );
    drop(sim_lines);
    // Every second is too often for this many series: scrape as a real
    // Prometheus would, with the time a large target needs.
    let yaml = std::fs::read_to_string(&config).expect("the scrape configuration");
    let yaml = yaml
        .replace(
            "scrape_interval: 1s",
            &format!("scrape_interval: {scrape}s\n  scrape_timeout: {scrape}s"),
        )
        .replace(
            "evaluation_interval: 1s",
            &format!("evaluation_interval: {scrape}s"),
        );
    std::fs::write(&config, yaml).expect("the scrape configuration");
    let port = free_port();
    let prometheus = format!("127.0.0.1:{port}");
    let _prometheus = Proc(
        Command::new(
            std::env::var("ROLLOUTS_DASHBOARD_TEST_PROMETHEUS")
                .unwrap_or_else(|_| "prometheus".into()),
        )
        .arg(format!("--config.file={}", config.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.join("data").display()
        ))
        .arg(format!("--web.listen-address={prometheus}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("Debian's prometheus runs (apt-get install prometheus)"),
    );
    let setup = Instant::now();
    // Three scrapes: a rate over the window has two points to go on.
    wait_for(
        "Prometheus to hold three scrapes of the mesh and the node",
        Duration::from_secs(20 * scrape + 120),
        || {
            promql(
                &prometheus,
                "count(count_over_time(container_cpu_usage_seconds_total[10m]) >= 3)",
            ) >= n as f64 * 4.0
                && promql(
                    &prometheus,
                    "count(count_over_time(istio_requests_total[10m]) >= 3)",
                ) >= n as f64 * 4.0
        },
    );
    let series: f64 = get(&prometheus, "/metrics")
        .1
        .lines()
        .find_map(|l| l.strip_prefix("prometheus_tsdb_head_series "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0.0);
    eprintln!(
        "Prometheus holds {series} series after {:.0} s",
        setup.elapsed().as_secs_f64()
    );

    let probe = "/api/v1/rollouts/scale-0/app-00000";
    let interval_flag = format!("{interval}s");
    let prometheus_url = format!("http://{prometheus}");
    let mut rows = Vec::new();
    for with_prometheus in [false, true] {
        let extra: Vec<&str> = if with_prometheus {
            vec![
                "--prometheus-url",
                &prometheus_url,
                "--prometheus-interval",
                &interval_flag,
            ]
        } else {
            Vec::new()
        };
        let (dash, addr, _) = support::serve(&kc, &extra);
        let pid = dash.0.id();
        wait_for("the dashboard to sync", Duration::from_secs(120), || {
            get(&addr, &format!("{probe}/info")).0 == 200
        });
        let updated = || {
            json_of(&addr, &format!("{probe}/observed"))["updatedAt"]
                .as_str()
                .map(str::to_string)
        };
        if with_prometheus {
            wait_for(
                "a first verdict with the pods' rows",
                Duration::from_secs(10 * interval + 120),
                || {
                    json_of(&addr, &format!("{probe}/comparison"))["metrics"]
                        .as_array()
                        .is_some_and(|m| m.iter().any(|m| m["name"] == "cpu"))
                },
            );
        } else {
            std::thread::sleep(Duration::from_secs(5));
        }
        let (queries0, seconds0, bytes0) = handler_totals(&prometheus, "/api/v1/query");
        let (ranges0, _, _) = handler_totals(&prometheus, "/api/v1/query_range");
        let cpu0 = cpu_seconds(pid);
        let started = Instant::now();
        let mut seen = updated();
        let mut counted = 0;
        let mut peak = rss_mib(pid);
        if with_prometheus {
            while counted < refreshes {
                std::thread::sleep(Duration::from_millis(100));
                let now = updated();
                if now.is_some() && now != seen {
                    counted += 1;
                    seen = now;
                }
                peak = peak.max(rss_mib(pid));
                assert!(
                    started.elapsed() < Duration::from_secs(refreshes * interval * 10 + 120),
                    "refreshes stopped"
                );
            }
        } else {
            // As long as the run with Prometheus, for the baseline.
            std::thread::sleep(Duration::from_secs(refreshes * interval));
            peak = peak.max(rss_mib(pid));
        }
        let elapsed = started.elapsed().as_secs_f64();
        let cpu = cpu_seconds(pid) - cpu0;
        let (queries1, seconds1, bytes1) = handler_totals(&prometheus, "/api/v1/query");
        let (ranges1, _, _) = handler_totals(&prometheus, "/api/v1/query_range");
        // The benchmark's own probes are instant queries too: none run
        // while counting, so every query counted is the dashboard's.
        let queries = queries1 - queries0;
        let comparison = json_of(&addr, &format!("{probe}/comparison"));
        let refreshes_seen = if with_prometheus {
            counted as f64
        } else {
            elapsed / interval as f64
        };
        rows.push(json!({
            "prometheus": with_prometheus,
            "rollouts": n,
            "series": series,
            "refreshes": refreshes_seen,
            "queries_per_refresh": queries / refreshes_seen,
            "range_queries": ranges1 - ranges0,
            "query_ms": if queries > 0.0 { (seconds1 - seconds0) / queries * 1000.0 } else { 0.0 },
            "answer_mb_per_refresh": (bytes1 - bytes0) / refreshes_seen / 1e6,
            "cpu_s_per_refresh": cpu / refreshes_seen,
            "rss_mb": rss_mib(pid),
            "rss_peak_mb": peak,
            "verdict": comparison["verdict"],
            "metrics": comparison["metrics"].as_array().map_or(0, Vec::len),
        }));
    }
    println!(
        "| rollouts | series | Prometheus | refreshes | queries / refresh | range queries meanwhile | ms / query (Prometheus) | MB answered / refresh | dashboard CPU s / refresh | RSS / peak MB | a verdict's metrics |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|");
    for r in &rows {
        let f = |k: &str| r[k].as_f64().unwrap_or(f64::NAN);
        println!(
            "| {} | {:.0} | {} | {:.0} | {:.2} | {:.0} | {:.0} | {:.1} | {:.2} | {:.1} / {:.1} | {} |",
            r["rollouts"],
            f("series"),
            if r["prometheus"] == true { "yes" } else { "no" },
            f("refreshes"),
            f("queries_per_refresh"),
            f("range_queries"),
            f("query_ms"),
            f("answer_mb_per_refresh"),
            f("cpu_s_per_refresh"),
            f("rss_mb"),
            f("rss_peak_mb"),
            r["metrics"],
        );
    }
    let _ = std::fs::create_dir_all("target/bench");
    let _ = std::fs::write(
        "target/bench/observed.json",
        serde_json::to_string_pretty(&rows).unwrap_or_default(),
    );
    let _ = std::fs::remove_dir_all(&dir);
}
