//! A real Prometheus (Debian's package) scraping the simulated mesh every
//! second, in a temporary folder, stopped when dropped. `.ci/run` installs
//! it; `ROLLOUTS_DASHBOARD_TEST_PROMETHEUS` may name another binary.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::PATIENCE;

pub struct Prometheus {
    child: Option<Child>,
    dir: PathBuf,
    pub port: u16,
}

impl Prometheus {
    /// A free loopback port for Prometheus to listen on later.
    pub fn reserve_port() -> u16 {
        std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("a free port")
    }

    pub fn url(port: u16) -> String {
        format!("http://127.0.0.1:{port}")
    }

    /// Starts Prometheus on `port`, scraping the sim at `sim`, and waits
    /// until it is ready.
    pub fn start(port: u16, sim: SocketAddr) -> Prometheus {
        Self::start_with(
            port,
            rollouts_dashboard::sim::mesh::scrape_config(sim, false),
        )
    }

    /// As `start`, scraping each of `clusters` (its sim's address, its
    /// name), each one's series labelled `cluster="NAME"` as a Prometheus
    /// shared by clusters (Thanos, Mimir) has them.
    pub fn start_clusters(port: u16, clusters: &[(SocketAddr, &str)]) -> Prometheus {
        let mut config =
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n"
                .to_string();
        for (addr, name) in clusters {
            for (job, path) in [
                ("mesh", "/sim/v1/istio/metrics"),
                ("node", "/sim/v1/node/metrics"),
            ] {
                config.push_str(&format!(
                    "  - job_name: {job}-{name}\n    honor_labels: true\n    metrics_path: {path}\n    static_configs:\n      - targets: [\"{addr}\"]\n        labels:\n          cluster: {name}\n"
                ));
            }
        }
        Self::start_with(port, config)
    }

    fn start_with(port: u16, config: String) -> Prometheus {
        let dir = std::env::temp_dir().join(format!(
            "rollouts-dashboard-prometheus-{}-{port}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("a folder for Prometheus");
        std::fs::write(dir.join("prometheus.yml"), config).expect("the scrape configuration");
        let mut p = Prometheus {
            child: None,
            dir,
            port,
        };
        p.resume();
        p
    }

    fn binary() -> String {
        std::env::var("ROLLOUTS_DASHBOARD_TEST_PROMETHEUS")
            .unwrap_or_else(|_| "prometheus".to_string())
    }

    /// Stops it (as a crash would: no goodbye).
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts it again on the same port and data.
    pub fn resume(&mut self) {
        let log = std::fs::File::create(self.dir.join("prometheus.log")).expect("a log file");
        let child = Command::new(Self::binary())
            .arg(format!(
                "--config.file={}",
                self.dir.join("prometheus.yml").display()
            ))
            .arg(format!(
                "--storage.tsdb.path={}",
                self.dir.join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{}", self.port))
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot start {} ({e}): .ci/run installs Debian's prometheus package",
                    Self::binary()
                )
            });
        self.child = Some(child);
        let deadline = Instant::now() + PATIENCE;
        while !ready(self.port) {
            assert!(
                Instant::now() < deadline,
                "Prometheus did not get ready; its log: {}",
                std::fs::read_to_string(self.dir.join("prometheus.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// Whether `/-/ready` answers 200.
fn ready(port: u16) -> bool {
    use std::io::{Read, Write};
    let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    let req = format!("GET /-/ready HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\n\r\n");
    if s.write_all(req.as_bytes()).is_err() {
        return false;
    }
    let mut answer = String::new();
    let _ = s.read_to_string(&mut answer);
    answer.starts_with("HTTP/1.0 200") || answer.starts_with("HTTP/1.1 200")
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
