//! The read path against a Kubernetes API server we did not write: kmock's
//! KubernetesEmulator (PyPI), loaded with Argo's canary fixtures, must give
//! the same view as the objects themselves, and the values Argo shows
//! (`tests/fixtures/argo-info/EXPECTED.md`).
//!
//! Needs Python with kmock: `.ci/run` installs `tools/requirements.txt` into
//! `target/tools-venv`; `ROLLOUTS_DASHBOARD_TEST_PYTHON` may name another.

use crate::common;
use crate::harness;

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use axum::http::StatusCode;
use common::{Objects, fixture};
use harness::{PATIENCE, Viewer, infos, view_mismatch};
use rollouts_dashboard::cluster::client::Scope;
use tokio_util::sync::CancellationToken;

/// The kmock process; killed when dropped.
struct Kmock {
    child: Child,
    url: String,
}

impl Drop for Kmock {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn python() -> PathBuf {
    std::env::var_os("ROLLOUTS_DASHBOARD_TEST_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/tools-venv/bin/python")
        })
}

fn start_kmock(fixtures: &str) -> Kmock {
    let python = python();
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tools/kmock_cluster.py");
    let mut child = Command::new(&python)
        .arg(&script)
        .arg(fixture(fixtures))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| {
            panic!(
                "cannot run {} ({e}); `bash .ci/run` installs kmock into target/tools-venv",
                python.display()
            )
        });
    let stdout = child.stdout.take().expect("stdout is piped");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let line = rx.recv_timeout(Duration::from_secs(30)).unwrap_or_default();
    let url = line
        .strip_prefix("kmock at ")
        .and_then(|rest| rest.split_whitespace().next())
        .map(|u| u.trim_end_matches('/').to_string());
    match url {
        Some(url) => Kmock { child, url },
        None => {
            let _ = child.kill();
            panic!(
                "kmock did not start (first line: {line:?}); is kmock installed for {}?",
                python.display()
            )
        }
    }
}

#[tokio::test]
async fn the_view_over_kmock_is_what_argo_shows() {
    let kmock = start_kmock("argo-info/canary");
    let viewer = Viewer::connect(&kmock.url, Scope::AllNamespaces, CancellationToken::new());
    let objects = Objects::load_dir(&fixture("argo-info/canary"));
    let expected = infos(&objects);
    assert!(expected.len() >= 6);

    let mut last = String::new();
    let matched = tokio::time::timeout(PATIENCE, async {
        let mut changes = viewer.view.subscribe();
        loop {
            match view_mismatch(&viewer.view.snapshot(), &expected) {
                None => return,
                Some(m) => last = m,
            }
            let _ = changes.recv().await;
        }
    })
    .await;
    assert!(
        matched.is_ok(),
        "the view over kmock never matched the objects: {last}"
    );

    // EXPECTED.md, canary/ → jesse-test/canary-demo, through the JSON API.
    let (status, _, info) = viewer
        .get("/api/v1/rollouts/jesse-test/canary-demo/info")
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(info["status"], "Degraded");
    assert_eq!(
        info["message"],
        "ProgressDeadlineExceeded: ReplicaSet \"canary-demo-65fb5ffc84\" has timed out progressing."
    );
    assert_eq!(info["step"], "0/8");
    assert_eq!(info["setWeight"], "20");
    assert_eq!(info["actualWeight"], "0");
    assert_eq!(
        (
            &info["desired"],
            &info["current"],
            &info["updated"],
            &info["ready"],
            &info["available"]
        ),
        (&5.into(), &6.into(), &1.into(), &5.into(), &5.into())
    );
    let replica_sets: Vec<(String, String, i64, usize)> = info["replicaSets"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|rs| {
            (
                rs["objectMeta"]["name"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
                rs["status"].as_str().unwrap_or_default().to_string(),
                rs["revision"].as_i64().unwrap_or_default(),
                rs["pods"].as_array().map_or(0, Vec::len),
            )
        })
        .collect();
    let rs = |name: &str, status: &str, revision, pods| {
        (name.to_string(), status.to_string(), revision, pods)
    };
    assert_eq!(
        replica_sets,
        [
            rs("canary-demo-65fb5ffc84", "Progressing", 31, 1),
            rs("canary-demo-877894d5b", "Healthy", 30, 5),
            rs("canary-demo-859c99b45c", "ScaledDown", 29, 0),
        ]
    );
    let (_, _, weights) = viewer
        .get("/api/v1/rollouts/jesse-test/canary-demo-weights/info")
        .await;
    assert_eq!(weights["actualWeight"], "20");
}
