//! The command line as a person uses it: kubectl-style flags, environment
//! variables, one-line errors with exit code 2, and a `serve` that says at
//! start which cluster, namespaces and URL it uses.

use std::io::{BufRead, BufReader};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

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

/// Starts the dashboard, returns its stdout up to the "serving at" line (at
/// most 20 s), then stops it.
fn startup_banner(args: &[&str], env: &[(&str, &str)]) -> String {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_rollouts-dashboard"));
    cmd.args(args)
        .env_remove("KUBECONFIG")
        .env("HOME", "/nonexistent")
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    for (k, _) in std::env::vars() {
        if k.starts_with("ROLLOUTS_DASHBOARD_") {
            cmd.env_remove(k);
        }
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("the binary runs");
    let stdout = child.stdout.take().expect("stdout is piped");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    let mut banner = String::new();
    while let Ok(line) = rx.recv_timeout(Duration::from_secs(20)) {
        banner.push_str(&line);
        banner.push('\n');
        if line.starts_with("serving at ") {
            break;
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    banner
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
    use clap::CommandFactory;
    // Every flag as clap defines it, for the default command and each
    // subcommand: in that command's --help, explained, and settable from
    // the environment as ROLLOUTS_DASHBOARD_*.
    let cli = rollouts_dashboard::cli::Cli::command();
    let mut commands: Vec<(Vec<&str>, &clap::Command)> = vec![(Vec::new(), &cli)];
    for sub in cli.get_subcommands() {
        commands.push((vec![sub.get_name()], sub));
    }
    let mut checked = 0;
    for (path, command) in commands {
        let mut args = path.clone();
        args.push("--help");
        let out = dashboard(&args, &[]);
        assert!(out.status.success(), "{args:?}");
        let help = text(&out.stdout);
        for arg in command.get_arguments() {
            let Some(long) = arg.get_long() else {
                continue;
            };
            if matches!(long, "help" | "version") {
                continue;
            }
            let flag = format!("--{long}");
            assert!(help.contains(&flag), "{args:?} lacks {flag}:\n{help}");
            assert!(
                arg.get_help().is_some_and(|h| !h.to_string().is_empty()),
                "{flag} is not explained"
            );
            let env = arg
                .get_env()
                .map(|e| e.to_string_lossy().to_string())
                .unwrap_or_default();
            assert!(
                env.starts_with("ROLLOUTS_DASHBOARD_"),
                "{flag} has no ROLLOUTS_DASHBOARD_* variable ({env:?})"
            );
            checked += 1;
        }
    }
    assert!(checked > 40, "only {checked} flags found");
    let help = text(&dashboard(&["--help"], &[]).stdout);
    for sub in ["serve", "demo", "sim"] {
        assert!(help.contains(sub), "--help lacks {sub}:\n{help}");
    }
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
        &["--prometheus-window", "0s"],
        &["--prometheus-interval", "soon"],
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
fn serve_is_the_default_and_says_what_it_watches_and_where() {
    let kc = kubeconfig();
    let s = startup_banner(
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
            "--listen",
            "127.0.0.1:0",
        ],
        &[],
    );
    assert!(s.contains("http://127.0.0.1:6443"), "{s}");
    assert!(s.contains("context laptop"), "{s}");
    assert!(s.contains("namespaces team-a, team-b"), "{s}");
    assert!(s.contains("off (read-only)"), "{s}");
    let url = s.lines().last().unwrap_or_default();
    assert!(
        url.starts_with("serving at http://127.0.0.1:") && url.ends_with("/rollouts/"),
        "{s}"
    );
}

#[test]
fn flags_come_from_the_environment_and_flags_win() {
    let kc = kubeconfig();
    let env = [
        ("ROLLOUTS_DASHBOARD_KUBECONFIG", kc.path()),
        ("ROLLOUTS_DASHBOARD_CONTEXT", "staging"),
        ("ROLLOUTS_DASHBOARD_LISTEN", "127.0.0.1:0"),
    ];
    let s = startup_banner(&["serve"], &env);
    assert!(s.contains("http://127.0.0.1:7443"), "{s}");
    assert!(s.contains("context staging"), "{s}");
    assert!(s.contains("serving at http://127.0.0.1:"), "{s}");
    // The fallback namespace of a context without one is "default".
    assert!(s.contains(r#"only "default""#), "{s}");

    let s = startup_banner(&["serve", "--context", "laptop"], &env);
    assert!(s.contains("context laptop"), "{s}");
    assert!(s.contains(r#"only "team-a""#), "{s}");
}

#[test]
fn a_port_in_use_is_a_clear_error() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
    let addr = taken.local_addr().expect("bound").to_string();
    let kc = kubeconfig();
    let out = dashboard(&["--kubeconfig", kc.path(), "--listen", &addr], &[]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(err.contains(&format!("cannot listen on {addr}")), "{err}");
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
fn bad_prometheus_settings_are_refused_before_anything_is_served() {
    let kc = kubeconfig();
    for (args, says) in [
        (
            &["--prometheus-url", "ftp://prometheus"][..],
            "--prometheus-url must be an http(s):// URL",
        ),
        (
            &[
                "--prometheus-url",
                "http://127.0.0.1:9",
                "--prometheus-pod-label",
                r#"pod="x"} or vector(1) #"#,
            ],
            "must be Prometheus label names",
        ),
        (
            &[
                "--prometheus-url",
                "http://127.0.0.1:9",
                "--prometheus-ca-file",
                "/nonexistent/ca.pem",
            ],
            "cannot read --prometheus-ca-file /nonexistent/ca.pem",
        ),
    ] {
        let mut all = vec!["--kubeconfig", kc.path(), "--listen", "127.0.0.1:0"];
        all.extend_from_slice(args);
        let out = dashboard(&all, &[]);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        assert!(
            text(&out.stderr).contains(says),
            "{args:?}: {}",
            text(&out.stderr)
        );
    }
}

#[test]
fn an_unknown_scenario_is_a_clear_error() {
    for command in ["sim", "demo"] {
        let out = dashboard(&[command, "--scenario", "nope"], &[]);
        assert_eq!(out.status.code(), Some(1), "{command}");
        assert!(text(&out.stderr).contains("unknown scenario"), "{command}");
    }
}
