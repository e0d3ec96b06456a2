//! What the edge's bounds cost and hold, measured on the release binary:
//! `sim --scale N` (rollouts changing all the time) and `serve` against it,
//! then from this process: idle connections, connections each holding a
//! 30 KB head that never ends, and live streams whose reader never reads.
//! Reports the dashboard's resident memory per held connection and per
//! stream, and how long the server took to drop what it must drop.
//!
//! `cargo bench --bench edge -- [--rollouts N] [--connections C]
//! [--streams S]`. Prints one table; writes target/bench/edge.json.

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use serde_json::json;
use support::{flag, has, scale_sim};

fn arg(name: &str, default: usize) -> usize {
    flag(name).map_or(default, |v| v as usize)
}

fn get(addr: &str, path: &str) -> (u16, String) {
    let Ok(mut s) = TcpStream::connect(addr) else {
        return (0, String::new());
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(10)));
    let _ = write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    );
    let mut text = String::new();
    let _ = s.read_to_string(&mut text);
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (status, text)
}

fn metric(admin: &str, name: &str) -> f64 {
    get(admin, "/metrics")
        .1
        .lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0.0)
}

fn rss_kib(pid: u32) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0.0)
}

fn settle() {
    std::thread::sleep(Duration::from_secs(2));
}

fn main() {
    // `cargo bench` passes --bench; `cargo test --all-targets` runs this
    // file too, without it, and must not start the benchmark.
    if !has("--bench") {
        println!("edge: a benchmark; run it with `cargo bench --bench edge`");
        return;
    }
    let rollouts = arg("--rollouts", 1000);
    let connections = arg("--connections", 800);
    let streams = arg("--streams", 500);
    let kubeconfig = std::env::temp_dir().join(format!("rd-edge-{}.yaml", std::process::id()));
    let kc = kubeconfig.display().to_string();
    let (_sim, _) = scale_sim(rollouts, &kc, true);
    let (dash, main, admin) = support::serve(
        &kc,
        &[
            "--max-streams-per-client",
            "100000",
            "--max-streams",
            "100000",
            "--write-timeout",
            "5s",
        ],
    );
    let pid = dash.0.id();
    let start = Instant::now();
    while get(&admin, "/readyz").0 != 200 {
        assert!(start.elapsed() < Duration::from_secs(120), "ready");
        std::thread::sleep(Duration::from_millis(50));
    }
    settle();
    let base = rss_kib(pid);

    // Idle connections: no byte sent.
    let idle: Vec<TcpStream> = (0..connections)
        .filter_map(|_| TcpStream::connect(&main).ok())
        .collect();
    settle();
    let idle_rss = rss_kib(pid);
    let held_idle = metric(&admin, "rollouts_dashboard_open_connections");
    drop(idle);
    settle();

    // Heads that never end: 30 KB each, under --max-header-bytes (32 KiB).
    let line = format!("X-Filler: {}\r\n", "f".repeat(1000));
    let mut heads: Vec<TcpStream> = (0..connections)
        .filter_map(|_| TcpStream::connect(&main).ok())
        .collect();
    for s in &mut heads {
        let _ = s.write_all(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n");
    }
    for _ in 0..30 {
        for s in &mut heads {
            let _ = s.write_all(line.as_bytes());
        }
    }
    settle();
    let heads_rss = rss_kib(pid);
    let held_heads = metric(&admin, "rollouts_dashboard_open_connections");
    drop(heads);
    settle();
    let after_connections = rss_kib(pid);

    // Live streams nobody reads, while rollouts change.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let stuck = rt.block_on(async {
        let mut held = Vec::new();
        for i in 0..streams {
            let socket = tokio::net::TcpSocket::new_v4().expect("a socket");
            let _ = socket.set_recv_buffer_size(2048);
            let Ok(mut s) = socket.connect(main.parse().expect("addr")).await else {
                continue;
            };
            let path = if i % 2 == 0 {
                "/stream/overview"
            } else {
                "/api/v1/rollouts/_all/info/watch"
            };
            let head =
                format!("GET {path} HTTP/1.1\r\nHost: {main}\r\nAccept: text/event-stream\r\n\r\n");
            let _ = tokio::io::AsyncWriteExt::write_all(&mut s, head.as_bytes()).await;
            held.push(s);
        }
        held
    });
    let opened = Instant::now();
    let mut peak = rss_kib(pid);
    let mut open_peak = 0.0f64;
    let mut all_dropped = None;
    while opened.elapsed() < Duration::from_secs(90) {
        std::thread::sleep(Duration::from_millis(250));
        peak = peak.max(rss_kib(pid));
        let open = metric(&admin, "rollouts_dashboard_open_streams");
        open_peak = open_peak.max(open);
        if open_peak > 0.0 && open == 0.0 {
            all_dropped = Some(opened.elapsed());
            break;
        }
    }
    let dropped = metric(
        &admin,
        "rollouts_dashboard_dropped_streams_total{reason=\"slow_reader\"}",
    );
    let cut = metric(
        &admin,
        "rollouts_dashboard_closed_connections_total{reason=\"write_timeout\"}",
    );
    settle();
    let after_streams = rss_kib(pid);
    drop(stuck);
    let _ = std::fs::remove_file(&kubeconfig);

    let per = |rss: f64, n: f64| if n > 0.0 { (rss - base) / n } else { f64::NAN };
    println!("edge at {rollouts} rollouts (sim --scale, changing), dashboard RSS");
    println!("| what | held | RSS (MB) | per held (KiB) |");
    println!("| --- | --- | --- | --- |");
    println!("| after sync | | {:.1} | |", base / 1024.0);
    println!(
        "| idle connections | {held_idle} | {:.1} | {:.1} |",
        idle_rss / 1024.0,
        per(idle_rss, held_idle)
    );
    println!(
        "| connections each holding a 30 KB head | {held_heads} | {:.1} | {:.1} |",
        heads_rss / 1024.0,
        per(heads_rss, held_heads)
    );
    println!(
        "| after they closed | 0 | {:.1} | |",
        after_connections / 1024.0
    );
    println!(
        "| streams nobody reads (peak) | {open_peak} | {:.1} | {:.1} |",
        peak / 1024.0,
        per(peak, open_peak)
    );
    println!(
        "| after they were dropped | 0 | {:.1} | |",
        after_streams / 1024.0
    );
    println!(
        "streams dropped: {dropped} by backlog, {cut} by write timeout; all gone after {}",
        all_dropped.map_or("(not within 90 s)".to_string(), |d| format!(
            "{:.1} s",
            d.as_secs_f64()
        ))
    );
    let report = json!({
        "rollouts": rollouts,
        "rss_base_kib": base,
        "idle": {"held": held_idle, "rss_kib": idle_rss},
        "heads": {"held": held_heads, "rss_kib": heads_rss},
        "after_connections_kib": after_connections,
        "streams": {"held": open_peak, "peak_kib": peak, "after_kib": after_streams,
                    "dropped_backlog": dropped, "dropped_write_timeout": cut,
                    "all_dropped_s": all_dropped.map(|d| d.as_secs_f64())},
    });
    let out = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bench");
    let _ = std::fs::create_dir_all(&out);
    let _ = std::fs::write(out.join("edge.json"), report.to_string());
}
