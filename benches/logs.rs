//! What a pod that writes fast costs the dashboard, measured on the release
//! binary: `sim --manifests` with one rollout whose pod writes
//! `--mb-per-second` of log (4,000 lines a second, padded), and `serve`
//! against it; then from this process one followed log stream that reads
//! everything it is sent, and `--stuck` more whose readers never read.
//! Reports the dashboard's resident memory before, while the streams run
//! (every second, the peak), and after they end; what the reading stream
//! received a second; the lines it was told were dropped.
//!
//! `cargo bench --bench logs -- [--mb-per-second M] [--stuck S] [--seconds T]`.
//! Prints one table; writes target/bench/logs.json.

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::json;
use support::{Proc, flag, has, rss_mib};

const LINES_PER_SECOND: u64 = 4000;

fn get(addr: &str, path: &str) -> u16 {
    let Ok(mut s) = TcpStream::connect(addr) else {
        return 0;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(10)));
    let _ = write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    );
    let mut text = String::new();
    let _ = s.read_to_string(&mut text);
    text.split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0)
}

/// One rollout whose pod writes `bytes_per_line` × 4,000 lines a second.
fn manifests(bytes_per_line: u64) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("rd-logs-bench-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&dir);
    let rollout = format!(
        r#"apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata:
  name: chatty
  namespace: noisy
  annotations:
    sim.rollouts-dashboard.io/requests-per-second: "100000"
    sim.rollouts-dashboard.io/log-lines-per-second: "{LINES_PER_SECOND}"
    sim.rollouts-dashboard.io/log-line-bytes: "{bytes_per_line}"
spec:
  replicas: 1
  selector:
    matchLabels:
      app: chatty
  template:
    metadata:
      labels:
        app: chatty
    spec:
      containers:
      - name: chatty
        image: example/chatty:1
  strategy:
    canary:
      steps:
      - setWeight: 20
      - pause: {{}}
"#
    );
    std::fs::write(dir.join("chatty.yaml"), rollout).expect("the manifest is written");
    dir
}

/// A followed log stream whose reader never reads (a tiny receive buffer).
fn stuck(addr: &str, path: &str) -> Option<TcpStream> {
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).ok()?;
    socket.set_recv_buffer_size(2048).ok()?;
    let to: std::net::SocketAddr = addr.parse().ok()?;
    socket.connect(&to.into()).ok()?;
    let mut s: TcpStream = socket.into();
    write!(s, "GET {path} HTTP/1.1\r\nHost: {addr}\r\n\r\n").ok()?;
    Some(s)
}

fn main() {
    if !has("--bench") {
        println!("logs: a benchmark; run it with `cargo bench --bench logs`");
        return;
    }
    let mb = flag("--mb-per-second").unwrap_or(10.0);
    let stuck_streams = flag("--stuck").map_or(3, |v| v as usize);
    let seconds = flag("--seconds").map_or(30, |v| v as u64);
    let bytes_per_line = ((mb * 1_000_000.0) / LINES_PER_SECOND as f64) as u64;
    let dir = manifests(bytes_per_line);
    let kubeconfig = std::env::temp_dir().join(format!("rd-logs-{}.yaml", std::process::id()));
    let kc = kubeconfig.display().to_string();
    let _sim = Proc(
        std::process::Command::new(support::BIN)
            .args(["sim", "--listen", "127.0.0.1:0", "--manifests"])
            .arg(&dir)
            .args(["--kubeconfig-out", &kc])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("the sim starts"),
    );
    let started = Instant::now();
    while !kubeconfig.exists() {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the sim listens"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let (dash, main, admin) = support::serve(
        &kc,
        &[
            "--max-log-streams-per-client",
            "1000",
            "--write-timeout",
            "5s",
        ],
    );
    let pid = dash.0.id();
    let start = Instant::now();
    while get(&admin, "/readyz") != 200
        || get(&main, "/api/v1/rollouts/noisy/chatty/logs?tailLines=1") != 200
    {
        assert!(start.elapsed() < Duration::from_secs(60), "ready with pods");
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_secs(2));
    let before = rss_mib(pid);
    let path = "/api/v1/rollouts/noisy/chatty/logs?follow=true&tailLines=0";

    // One reader that takes everything.
    let received = Arc::new(AtomicU64::new(0));
    let dropped = Arc::new(AtomicU64::new(0));
    {
        let (main, received, dropped) = (main.clone(), received.clone(), dropped.clone());
        std::thread::spawn(move || {
            let Ok(mut s) = TcpStream::connect(&main) else {
                return;
            };
            let _ = write!(s, "GET {path} HTTP/1.1\r\nHost: {main}\r\n\r\n");
            let mut buf = vec![0u8; 1 << 16];
            let mut carry = String::new();
            while let Ok(n) = s.read(&mut buf) {
                if n == 0 {
                    break;
                }
                carry.push_str(&String::from_utf8_lossy(&buf[..n]));
                while let Some(at) = carry.find('\n') {
                    let line: String = carry.drain(..=at).collect();
                    if line.contains("\"line\":") {
                        received.fetch_add(1, Ordering::Relaxed);
                    } else if let Some(v) = line.split("\"dropped\":").nth(1) {
                        let n: String = v.chars().take_while(char::is_ascii_digit).collect();
                        dropped.fetch_add(n.parse().unwrap_or(0), Ordering::Relaxed);
                    }
                }
            }
        });
    }
    let held: Vec<TcpStream> = (0..stuck_streams)
        .filter_map(|_| stuck(&main, path))
        .collect();
    let mut samples = Vec::new();
    let run = Instant::now();
    while run.elapsed() < Duration::from_secs(seconds) {
        std::thread::sleep(Duration::from_secs(1));
        samples.push(rss_mib(pid));
    }
    let got = received.load(Ordering::Relaxed);
    let lost = dropped.load(Ordering::Relaxed);
    drop(held);
    std::thread::sleep(Duration::from_secs(8));
    let after = rss_mib(pid);
    let peak = samples.iter().copied().fold(before, f64::max);
    let last_tenth: Vec<f64> = samples.iter().rev().take(3).copied().collect();
    println!();
    println!(
        "| pod writes | streams | RSS before | RSS peak | RSS at the end of the run | RSS after | lines/s to the reader | dropped/s |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    println!(
        "| {mb:.0} MB/s ({LINES_PER_SECOND} lines/s of {bytes_per_line} B) | 1 reading + {stuck_streams} stuck | {before:.1} MB | {peak:.1} MB | {:.1} MB | {after:.1} MB | {:.0} | {:.0} |",
        last_tenth.first().copied().unwrap_or(before),
        got as f64 / seconds as f64,
        lost as f64 / seconds as f64,
    );
    let out = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bench");
    let _ = std::fs::create_dir_all(&out);
    let _ = std::fs::write(
        out.join("logs.json"),
        json!({
            "mb_per_second": mb, "stuck": stuck_streams, "seconds": seconds,
            "rss_mib": {"before": before, "peak": peak, "after": after, "samples": samples},
            "lines_per_second_to_reader": got as f64 / seconds as f64,
            "dropped_per_second": lost as f64 / seconds as f64,
        })
        .to_string(),
    );
    let _ = std::fs::remove_dir_all(&dir);
    let _ = std::fs::remove_file(&kubeconfig);
}
