//! A real OpenID provider (oidc-provider-mock from PyPI, served over HTTPS
//! by tools/oidc_provider.py) for tests/it/oidc.rs and tests/browser/.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use rollouts_dashboard::oidc::http::Https;
use serde_json::Value;

pub struct Provider {
    pub issuer: String,
    pub ca_file: PathBuf,
    pub dir: PathBuf,
    child: Child,
    https: Https,
}

impl Drop for Provider {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn python() -> PathBuf {
    std::env::var_os("ROLLOUTS_DASHBOARD_TEST_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/tools-venv/bin/python")
        })
}

/// Starts the provider with `users` (claims, each with a `sub`).
pub fn start(name: &str, users: &[Value]) -> Provider {
    let dir = std::env::temp_dir().join(format!("rd-oidc-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tools/oidc_provider.py");
    let mut cmd = Command::new(python());
    cmd.arg(script).arg("--dir").arg(&dir);
    for u in users {
        cmd.arg("--user").arg(u.to_string());
    }
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| {
            panic!(
                "cannot run {} ({e}); `bash .ci/run` makes the tools venv",
                python().display()
            )
        });
    let stdout = child.stdout.take().expect("piped");
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .expect("the provider says where it serves");
    let issuer = line
        .trim()
        .strip_prefix("issuer ")
        .unwrap_or_else(|| panic!("the provider did not start: {line:?}"))
        .to_string();
    let ca_file = dir.join("ca.pem");
    let pem = std::fs::read(&ca_file).expect("the provider's CA");
    Provider {
        issuer,
        ca_file,
        dir,
        child,
        https: Https::new(Some(&pem)).expect("a client trusting the CA"),
    }
}

impl Provider {
    /// A genuine ID token for `sub`, from the provider's own code flow.
    pub async fn id_token(&self, sub: &str, client_id: &str) -> String {
        let url = format!("{}/test/login?sub={sub}&client_id={client_id}", self.issuer);
        let answer: Value = self.https.get_json(&url).await.expect("tokens");
        answer["id_token"]
            .as_str()
            .expect("an ID token")
            .to_string()
    }

    /// A token an attacker could bring (see tools/oidc_provider.py).
    pub async fn forged(&self, kind: &str, client_id: &str) -> String {
        let url = format!(
            "{}/test/forge?kind={kind}&aud={client_id}&json=1",
            self.issuer
        );
        let v: Value = self.https.get_json(&url).await.expect("a forged token");
        v.as_str().expect("a string").to_string()
    }

    /// Signs `sub` in at an authorization URL, as a person clicking
    /// "Authorize" would; where the provider sends the browser next.
    pub async fn authorize(&self, authorization_url: &str, sub: &str) -> String {
        let enc: String = form_urlencoded::byte_serialize(authorization_url.as_bytes()).collect();
        let url = format!("{}/test/authorize?sub={sub}&url={enc}", self.issuer);
        let answer: Value = self.https.get_json(&url).await.expect("authorized");
        answer["location"]
            .as_str()
            .unwrap_or_else(|| panic!("no redirect: {answer}"))
            .to_string()
    }
}
