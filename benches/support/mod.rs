//! What the end-to-end benchmarks share: the release binary as a child
//! process, plain HTTP/1.1 over a TcpStream (no client library between
//! the measurement and the server), /proc readings, waiting.

#![allow(dead_code)] // each benchmark uses its own share

pub mod clusters;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_rollouts-dashboard");

pub struct Proc(pub Child);
impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `args` and returns it with the lines its stdout printed up to one
/// starting with `until`.
pub fn spawn(args: &[&str], until: &str) -> (Proc, Vec<String>) {
    let child = Command::new(BIN)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("the release binary runs");
    let mut proc = Proc(child);
    let lines = lines_until(&mut proc, until);
    (proc, lines)
}

/// The lines a child started with piped stdout printed, up to one
/// starting with `until`.
pub fn lines_until(proc: &mut Proc, until: &str) -> Vec<String> {
    let Some(out) = proc.0.stdout.take() else {
        return Vec::new();
    };
    let mut lines = Vec::new();
    for line in BufReader::new(out).lines().map_while(Result::ok) {
        let done = line.starts_with(until);
        lines.push(line);
        if done {
            break;
        }
    }
    lines
}

pub fn http(
    addr: &str,
    method: &str,
    path: &str,
    content_type: &str,
    body: &str,
) -> (u16, Vec<u8>) {
    http_with(addr, method, path, &[("Content-Type", content_type)], body)
}

/// One request with `headers`, `Connection: close`: the status and the
/// whole response (head and body, as sent).
pub fn http_with(
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, Vec<u8>) {
    let Ok(mut s) = TcpStream::connect(addr) else {
        return (0, Vec::new());
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(30)));
    let head: String = headers
        .iter()
        .map(|(k, v)| format!("{k}: {v}\r\n"))
        .collect();
    let _ = write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n{head}Content-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf);
    let status = String::from_utf8_lossy(&buf[..buf.len().min(16)])
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (status, buf)
}

/// A response's body (after the blank line), without chunk framing.
pub fn body_of(response: &[u8]) -> Vec<u8> {
    let Some(at) = response.windows(4).position(|w| w == b"\r\n\r\n") else {
        return Vec::new();
    };
    let head = String::from_utf8_lossy(&response[..at]).to_ascii_lowercase();
    let mut body = &response[at + 4..];
    if !head.contains("transfer-encoding: chunked") {
        return body.to_vec();
    }
    let mut out = Vec::new();
    while let Some(eol) = body.windows(2).position(|w| w == b"\r\n") {
        let size = String::from_utf8_lossy(&body[..eol]);
        let size = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if size == 0 {
            break;
        }
        let end = (eol + 2 + size).min(body.len());
        out.extend_from_slice(&body[eol + 2..end]);
        body = body.get(end + 2..).unwrap_or_default();
    }
    out
}

/// Opens a streaming GET and calls `each` with every line, in a thread.
pub fn stream_lines(
    addr: &str,
    path: &str,
    accept: &str,
    each: impl Fn(&str, usize) + Send + 'static,
) {
    let addr = addr.to_string();
    let path = path.to_string();
    let accept = accept.to_string();
    std::thread::spawn(move || {
        // A thousand clients connecting at once may find the listen queue
        // full: try again a few times before giving up on this one.
        let mut s = None;
        for _ in 0..50 {
            match TcpStream::connect(&addr) {
                Ok(c) => {
                    s = Some(c);
                    break;
                }
                Err(_) => std::thread::sleep(Duration::from_millis(100)),
            }
        }
        let Some(mut s) = s else {
            eprintln!("a client could not connect to {addr}");
            return;
        };
        let _ = write!(
            s,
            "GET {path} HTTP/1.1\r\nHost: {addr}\r\nAccept: {accept}\r\n\r\n"
        );
        let mut reader = BufReader::new(s);
        let mut line = String::new();
        loop {
            line.clear();
            match reader.read_line(&mut line) {
                Ok(0) | Err(_) => return,
                Ok(n) => each(&line, n),
            }
        }
    });
}

pub fn proc_status(pid: u32, key: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(key))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

/// CPU seconds (user + system) used by `pid` so far.
pub fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or_default();
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / 100.0
}

pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

pub fn wait_until(what: &str, limit: Duration, ok: impl Fn() -> bool) -> Duration {
    let start = Instant::now();
    while !ok() {
        assert!(start.elapsed() < limit, "gave up waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
    start.elapsed()
}

/// `sim --scale n` on a free loopback port writing its kubeconfig to
/// `kubeconfig`; with `churn`, its own changes run (else it holds still
/// and the benchmark drives changes); the sim and its address.
pub fn scale_sim(n: usize, kubeconfig: &str, churn: bool) -> (Proc, String) {
    let n = n.to_string();
    let mut args = vec!["sim", "--scale", &n];
    if !churn {
        args.push("--no-controller");
    }
    args.extend(["--listen", "127.0.0.1:0", "--kubeconfig-out", kubeconfig]);
    let (sim, lines) = spawn(&args, "simulated cluster at");
    let addr = lines
        .last()
        .and_then(|l| l.split("http://").nth(1))
        .and_then(|r| r.split_whitespace().next())
        .expect("the sim's address")
        .to_string();
    (sim, addr)
}

/// `serve`'s arguments: against the cluster of `kubeconfig`, every
/// namespace, on free loopback ports, the release history in `history_db`
/// (`off`, or a database URL), then `extra` flags.
pub fn serve_args<'a>(kubeconfig: &'a str, history_db: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec![
        "serve",
        "--kubeconfig",
        kubeconfig,
        "-A",
        "--listen",
        "127.0.0.1:0",
        "--admin-listen",
        "127.0.0.1:0",
        "--history-db",
        history_db,
    ];
    args.extend(extra);
    args
}

/// `serve` against the cluster of `kubeconfig`, no release history, with
/// `extra` flags: the process and its main and admin addresses.
pub fn serve(kubeconfig: &str, extra: &[&str]) -> (Proc, String, String) {
    let (proc, lines) = spawn(&serve_args(kubeconfig, "off", extra), "serving at");
    let (main, admin) = dashboard_addresses(&lines);
    (proc, main, admin)
}

/// Whether some change never reached some client: `complete` not true
/// within 60 s.
pub fn missed_any(complete: impl Fn() -> bool) -> bool {
    // What `complete` reads is only read: a panic leaves nothing half-made.
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        wait_until(
            "every change at every client",
            Duration::from_secs(60),
            complete,
        )
    }))
    .is_err()
}

/// A process's resident memory in MiB.
pub fn rss_mib(pid: u32) -> f64 {
    proc_status(pid, "VmRSS:") as f64 / 1024.0
}

/// The main and admin addresses `serve` printed at start.
pub fn dashboard_addresses(lines: &[String]) -> (String, String) {
    let addr_of = |prefix: &str| {
        lines
            .iter()
            .find_map(|l| l.trim().strip_prefix(prefix))
            .and_then(|r| r.split('/').next())
            .expect("an address")
            .to_string()
    };
    (
        addr_of("serving at http://"),
        addr_of("admin:      http://"),
    )
}

/// The number after `flag` on the command line (`--rollouts 1000`).
pub fn flag(name: &str) -> Option<f64> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse::<f64>().ok())
}

/// Whether `name` is on the command line (`--quick`).
pub fn has(name: &str) -> bool {
    std::env::args().any(|a| a == name)
}
