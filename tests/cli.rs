//! The command line as a person uses it: kubectl-style flags, environment
//! variables, one-line errors with exit code 2, and a `serve` that says what
//! it would watch instead of pretending to serve.

use std::process::{Command, Output};

fn dashboard(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_rollouts-dashboard"));
    cmd.args(args)
        .env_remove("KUBECONFIG")
        .env("HOME", "/nonexistent");
    for (k, _) in std::env::vars() {
        if k.starts_with("ROLLOUTS_DASHBOARD_") {
            cmd.env_remove(k);
        }
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("the binary runs")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// A kubeconfig with two contexts pointing at loopback (never contacted).
fn kubeconfig() -> tempfile_path::TempFile {
    tempfile_path::TempFile::with(
        r#"apiVersion: v1
kind: Config
current-context: laptop
clusters:
- name: local
  cluster: {server: "http://127.0.0.1:6443"}
- name: other
  cluster: {server: "http://127.0.0.1:7443"}
contexts:
- name: laptop
  context: {cluster: local, user: me, namespace: team-a}
- name: staging
  context: {cluster: other, user: me}
users:
- name: me
  user: {token: not-a-real-token}
"#,
    )
}

mod tempfile_path {
    use std::path::PathBuf;

    /// A file under the target dir that is removed on drop.
    pub struct TempFile(pub PathBuf);

    impl TempFile {
        pub fn with(content: &str) -> TempFile {
            static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
            let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let path = std::env::temp_dir().join(format!("rd-cli-{}-{n}.yaml", std::process::id()));
            std::fs::write(&path, content).unwrap();
            TempFile(path)
        }
        pub fn path(&self) -> &str {
            self.0.to_str().unwrap()
        }
    }

    impl Drop for TempFile {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }
}

#[test]
fn help_explains_every_flag() {
    let out = dashboard(&["--help"], &[]);
    assert!(out.status.success());
    let help = text(&out.stdout);
    for flag in [
        "--kubeconfig",
        "--context",
        "--namespace",
        "--all-namespaces",
        "--listen",
        "--base-path",
        "--read-only",
        "--log-format",
        "serve",
        "demo",
        "sim",
    ] {
        assert!(help.contains(flag), "--help lacks {flag}:\n{help}");
    }
    assert!(
        help.contains("ROLLOUTS_DASHBOARD_LISTEN"),
        "env vars are shown:\n{help}"
    );
}

#[test]
fn bad_flag_values_exit_2_with_one_line() {
    for args in [
        &["--listen", "not-an-address"][..],
        &["-n", "Not_A_Namespace"],
        &["--base-path", "rollouts"],
        &["--base-path", "/a/../b"],
        &["--log-format", "xml"],
        &["-A", "-n", "team-a"],
        &["serve", "--no-such-flag"],
    ] {
        let out = dashboard(args, &[]);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = text(&out.stderr);
        assert_eq!(
            err.trim_end().lines().count(),
            1,
            "{args:?} printed:\n{err}"
        );
        assert!(err.starts_with("error: "), "{err}");
    }
}

#[test]
fn serve_is_the_default_and_says_what_it_would_watch() {
    let kc = kubeconfig();
    let out = dashboard(
        &[
            "--kubeconfig",
            kc.path(),
            "-n",
            "team-b",
            "-n",
            "team-a",
            "--base-path",
            "/rollouts/",
            "--read-only",
        ],
        &[],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let s = text(&out.stdout);
    assert!(s.contains("http://127.0.0.1:6443"), "{s}");
    assert!(s.contains("context laptop"), "{s}");
    assert!(s.contains("namespaces team-a, team-b"), "{s}");
    assert!(s.contains("http://127.0.0.1:3100/rollouts"), "{s}");
    assert!(s.contains("off (read-only)"), "{s}");
    assert!(s.contains("nothing is being watched or served"), "{s}");
}

#[test]
fn flags_come_from_the_environment_and_flags_win() {
    let kc = kubeconfig();
    let env = [
        ("ROLLOUTS_DASHBOARD_KUBECONFIG", kc.path()),
        ("ROLLOUTS_DASHBOARD_CONTEXT", "staging"),
        ("ROLLOUTS_DASHBOARD_LISTEN", "0.0.0.0:8080"),
    ];
    let out = dashboard(&["serve"], &env);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let s = text(&out.stdout);
    assert!(s.contains("http://127.0.0.1:7443"), "{s}");
    assert!(s.contains("context staging"), "{s}");
    assert!(s.contains("http://0.0.0.0:8080/"), "{s}");
    // The fallback namespace of a context without one is "default".
    assert!(s.contains(r#"only "default""#), "{s}");

    let out = dashboard(
        &["serve", "--context", "laptop", "--listen", "127.0.0.1:9"],
        &env,
    );
    let s = text(&out.stdout);
    assert!(
        s.contains("context laptop") && s.contains("127.0.0.1:9/"),
        "{s}"
    );
    assert!(s.contains(r#"only "team-a""#), "{s}");
}

#[test]
fn a_missing_kubeconfig_or_context_is_a_clear_error() {
    let out = dashboard(&["--kubeconfig", "/nonexistent/config"], &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("cannot read kubeconfig /nonexistent/config"));

    let kc = kubeconfig();
    let out = dashboard(&["--kubeconfig", kc.path(), "--context", "prod"], &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("prod"), "{}", text(&out.stderr));

    let out = dashboard(&[], &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("pass --kubeconfig"));
}

#[test]
fn what_is_not_built_yet_says_so() {
    let out = dashboard(&["demo"], &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("not built yet"));
    let out = dashboard(&["sim", "--scenario", "nope"], &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("unknown scenario"));
}
