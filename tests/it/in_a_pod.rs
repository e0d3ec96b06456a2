//! The server as it runs in a pod (the binary as a child process, on the
//! demo cluster): probes and metrics on the admin port only, everything
//! under `--base-path`, metrics that follow clients and actions, and a
//! prompt exit on SIGTERM with hundreds of open streams.

use crate::http;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

struct Dashboard {
    child: Child,
    main: String,
    admin: String,
}

impl Drop for Dashboard {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start() -> Dashboard {
    let mut child = Command::new(env!("CARGO_BIN_EXE_rollouts-dashboard"))
        .env("ROLLOUTS_DASHBOARD_HISTORY_DB", "sqlite::memory:")
        // One test holds 200 streams from this one address (--auth none
        // caps an address at 32 by default).
        .env("ROLLOUTS_DASHBOARD_MAX_STREAMS_PER_CLIENT", "250")
        .args([
            "demo",
            "--listen",
            "127.0.0.1:0",
            "--admin-listen",
            "127.0.0.1:0",
            "--base-path",
            "/rollouts",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("the binary runs");
    let stdout = child.stdout.take().expect("piped");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let (mut main, mut admin) = (None, None);
    while let Ok(line) = rx.recv_timeout(Duration::from_secs(30)) {
        if let Some(rest) = line.trim().strip_prefix("admin:      http://") {
            admin = rest.split('/').next().map(str::to_string);
        }
        if let Some(rest) = line.strip_prefix("serving at http://") {
            main = rest.split('/').next().map(str::to_string);
            break;
        }
    }
    let (Some(main), Some(admin)) = (main, admin) else {
        let _ = child.kill();
        panic!("the dashboard printed no addresses");
    };
    let d = Dashboard { child, main, admin };
    let deadline = Instant::now() + Duration::from_secs(30);
    while http::get(&d.admin, "/readyz").map(|r| r.0) != Some(200) {
        assert!(Instant::now() < deadline, "never ready");
        std::thread::sleep(Duration::from_millis(50));
    }
    d
}

fn metric(d: &Dashboard, line_start: &str) -> Option<f64> {
    let (_, body) = http::get(&d.admin, "/metrics")?;
    body.lines()
        .find(|l| l.starts_with(line_start))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

fn until(what: &str, ok: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !ok() {
        assert!(Instant::now() < deadline, "gave up waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn admin_port_base_path_and_metrics() {
    let d = start();
    // Probes and metrics on the admin port, not on the user-facing one.
    assert_eq!(http::get(&d.admin, "/healthz").map(|r| r.0), Some(200));
    let names = [
        "rollouts_dashboard_watch_events_total{kind=\"Rollout\"}",
        "rollouts_dashboard_seconds_since_sync{kind=\"Pod\",namespace=\"\"}",
        "rollouts_dashboard_rollouts{status=\"Paused\"}",
        "rollouts_dashboard_open_streams",
        "rollouts_dashboard_ready 1",
    ];
    until("every metric", || {
        http::get(&d.admin, "/metrics")
            .is_some_and(|(status, body)| status == 200 && names.iter().all(|n| body.contains(n)))
    });
    for path in [
        "/healthz",
        "/readyz",
        "/metrics",
        "/rollouts/healthz",
        "/rollouts/metrics",
    ] {
        assert_eq!(http::get(&d.main, path).map(|r| r.0), Some(404), "{path}");
    }

    // Everything under the base path, nothing outside it.
    let (status, page) = http::get(&d.main, "/rollouts/").expect("the overview");
    assert_eq!(status, 200);
    assert!(page.contains("href=\"/rollouts/static/app.css\""));
    assert!(page.contains("href=\"/rollouts/static/favicon.svg\""));
    assert!(page.contains("data-stream=\"/rollouts/stream/overview?since="));
    assert!(page.contains("href=\"/rollouts/rollouts/manifest-gen/manifest-gen\""));
    assert_eq!(http::get(&d.main, "/rollouts").map(|r| r.0), Some(200));
    for path in [
        "/rollouts/static/app.js",
        "/rollouts/static/favicon.svg",
        "/rollouts/rollouts/manifest-gen/manifest-gen",
        "/rollouts/api/v1/rollouts/_all/info",
        "/rollouts/api/v1/version",
    ] {
        assert_eq!(http::get(&d.main, path).map(|r| r.0), Some(200), "{path}");
    }
    for path in [
        "/",
        "/static/app.js",
        "/api/v1/version",
        "/rollouts/manifest-gen/manifest-gen",
    ] {
        assert_eq!(http::get(&d.main, path).map(|r| r.0), Some(404), "{path}");
    }

    // Metrics follow clients and actions.
    let streams = |d: &Dashboard| metric(d, "rollouts_dashboard_open_streams ");
    assert_eq!(streams(&d), Some(0.0));
    let stream = http::open_stream(&d.main, "/rollouts/stream/overview").expect("a stream");
    until("one open stream", || streams(&d) == Some(1.0));
    drop(stream);
    until("no open stream", || streams(&d) == Some(0.0));
    let (status, body) = http::request(
        &d.main,
        "PUT",
        "/rollouts/api/v1/rollouts/manifest-gen/manifest-gen/abort",
        "{}",
    )
    .expect("the action");
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        metric(
            &d,
            "rollouts_dashboard_actions_total{action=\"abort\",result=\"done\"}"
        ),
        Some(1.0)
    );
    assert!(
        metric(&d, "rollouts_dashboard_http_request_duration_seconds_count{method=\"PUT\",route=\"/rollouts/api/v1/rollouts/{namespace}/{name}/abort\"}")
            .is_some_and(|n| n >= 1.0)
    );
}

#[test]
fn sigterm_with_200_open_streams_exits_within_5_seconds() {
    let mut d = start();
    let streams: Vec<_> = (0..200)
        .map(|i| {
            let path = if i % 2 == 0 {
                "/rollouts/stream/overview"
            } else {
                "/rollouts/api/v1/rollouts/_all/info/watch"
            };
            http::open_stream(&d.main, path).unwrap_or_else(|| panic!("stream {i}"))
        })
        .collect();
    until("200 open streams", || {
        metric(&d, "rollouts_dashboard_open_streams ") == Some(200.0)
    });
    let sent = Instant::now();
    let term = Command::new("kill")
        .args(["-TERM", &d.child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(term.success());
    let status = loop {
        if let Some(s) = d.child.try_wait().expect("status") {
            break s;
        }
        assert!(
            sent.elapsed() < Duration::from_secs(5),
            "still running 5 s after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success(), "{status}");
    drop(streams);
}
