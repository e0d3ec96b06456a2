//! `rollouts-dashboard demo` as a new user runs it: one process serves the
//! simulated cluster's release through the dashboard on the printed URL,
//! keeps the failing canary's last lines with its release once it is
//! aborted, stays up, and stops cleanly on SIGTERM.

use crate::http;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn http_get(addr: &str, path: &str) -> Option<(u16, String)> {
    http::get(addr, path)
}

/// `demo` with `args` on a free loopback port, once it printed its URL:
/// the process, its address, and the lines it printed up to the URL.
fn demo(args: &[&str]) -> (std::process::Child, String, Vec<String>) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_rollouts-dashboard"))
        .arg("demo")
        .args(args)
        .args(["--listen", "127.0.0.1:0"])
        .env_remove("KUBECONFIG")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("the binary runs");
    let stdout = child.stdout.take().expect("stdout is piped");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let mut printed = Vec::new();
    while let Ok(line) = rx.recv_timeout(Duration::from_secs(30)) {
        if let Some(u) = line.strip_prefix("serving at http://") {
            return (child, u.trim_end_matches('/').to_string(), printed);
        }
        printed.push(line);
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("demo printed no URL: {printed:?}");
}

#[test]
fn demo_serves_the_seed_release_and_stops_on_sigterm() {
    let (mut child, addr, _) = demo(&[]);
    let deadline = Instant::now() + Duration::from_secs(30);
    while http_get(&addr, "/readyz").map(|r| r.0) != Some(200) {
        assert!(Instant::now() < deadline, "demo never became ready");
        std::thread::sleep(Duration::from_millis(50));
    }
    let (status, body) = http_get(&addr, "/api/v1/rollouts/manifest-gen/manifest-gen/info")
        .expect("the API answers");
    assert_eq!(status, 200);
    let info: serde_json::Value = serde_json::from_str(&body).expect("JSON");
    assert_eq!(info["strategy"], "Canary");
    assert_eq!(
        info["containers"][0]["image"], "anantvaid4/manifest-generator-api:v2",
        "the seed's new version is rolling out"
    );
    let (_, body) = http_get(&addr, "/api/v1/namespace").expect("the API answers");
    assert!(body.contains("\"namespace\":\"manifest-gen\""), "{body}");

    // The failing canary (shop/search) is aborted by its analysis after
    // 20 s at half the traffic; its pods' last lines, 503s among them, are
    // then on its History entry.
    let deadline = Instant::now() + Duration::from_secs(90);
    let kept = loop {
        let kept = http_get(&addr, "/api/v1/rollouts/shop/search/history")
            .and_then(|(_, body)| serde_json::from_str::<serde_json::Value>(&body).ok())
            .and_then(|h| {
                h["revisions"]
                    .as_array()?
                    .iter()
                    .find(|r| r["outcome"] == "aborted")
                    .map(|r| r["keptLogs"].clone())
            })
            .filter(|k| !k.is_null());
        if let Some(k) = kept {
            break k;
        }
        assert!(
            Instant::now() < deadline,
            "the aborted canary's lines were never kept"
        );
        std::thread::sleep(Duration::from_millis(250));
    };
    assert!(kept["errorLines"].as_u64() >= Some(1), "{kept}");
    let (_, panel) = http_get(&addr, "/rollouts/shop/search/history").expect("the panel");
    assert!(panel.contains("Last lines of its pods"), "{panel}");
    assert!(
        panel.contains("errors among them") || panel.contains("1 error among them"),
        "{panel}"
    );
    // The entry shows the last ten; the 503s, a quarter of the lines, are
    // among all of them on the revision's page.
    let (_, all) = http_get(&addr, "/rollouts/shop/search/history/2/logs").expect("the page");
    assert!(all.contains("status=503"), "{all}");

    assert!(child.try_wait().expect("status").is_none(), "demo stays up");
    let term = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(term.success());
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(s) = child.try_wait().expect("status") {
            break s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("demo did not stop within 10 s of SIGTERM");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "{status}");
}

#[test]
fn demo_of_three_clusters_shows_each_and_all_of_them() {
    let (mut child, addr, printed) = demo(&["--clusters", "3"]);
    let clusters_line = printed
        .iter()
        .find(|l| l.trim_start().starts_with("clusters:"))
        .cloned()
        .unwrap_or_default();
    assert!(
        clusters_line.contains("demo-1") && clusters_line.contains("demo-3"),
        "{clusters_line}"
    );
    // Each simulated cluster syncs on its own.
    let deadline = Instant::now() + Duration::from_secs(60);
    let live = |body: &str| body.matches("\"state\":\"live\"").count();
    let body = loop {
        let body = http_get(&addr, "/api/v1/clusters")
            .map(|r| r.1)
            .unwrap_or_default();
        if live(&body) == 3 {
            break body;
        }
        assert!(Instant::now() < deadline, "not all live: {body}");
        std::thread::sleep(Duration::from_millis(100));
    };
    let v: serde_json::Value = serde_json::from_str(&body).expect("JSON");
    let counts: Vec<(String, u64)> = v["clusters"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|c| {
            (
                c["name"].as_str().unwrap_or("").to_string(),
                c["rollouts"].as_u64().unwrap_or(0),
            )
        })
        .collect();
    assert_eq!(counts[0].0, "demo-1");
    assert_eq!(counts[1], ("demo-2".to_string(), 24));
    assert_eq!(counts[2], ("demo-3".to_string(), 24));
    // The overview of all three, and each one's own.
    let (status, page) = http_get(&addr, "/").expect("the overview");
    assert_eq!(status, 200);
    for name in ["demo-1", "demo-2", "demo-3"] {
        assert!(
            page.contains(&format!("href=\"/clusters/{name}/\"")),
            "{name}"
        );
    }
    let (status, body) =
        http_get(&addr, "/clusters/demo-3/api/v1/rollouts/_all/info").expect("the API");
    assert_eq!(status, 200);
    let v: serde_json::Value = serde_json::from_str(&body).expect("JSON");
    assert_eq!(
        v["rollouts"].as_array().map(Vec::len),
        Some(24),
        "demo-3's own rollouts"
    );
    let _ = child.kill();
    let _ = child.wait();
}
