//! The edge tried as an attacker would, before anyone signs in: half
//! requests, idle sockets, a flood past the connection cap and the
//! open-file limit, oversized heads, live streams nobody reads, a page on
//! another site that rebinds its name to our address, a proxy that
//! rewrites Host, one tenant's megabyte of status text.

use crate::harness;
use crate::http;
use crate::teams;
use crate::teams::two_teams;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use harness::rt;
use rollouts_dashboard::cli::{AuthMode, WebArgs};
use rollouts_dashboard::cluster::client::Scope;
use rollouts_dashboard::sim::store::Subresource;
use serde_json::json;
use teams::{Cluster, call, exchange, rss_kib, until};

const LOOPBACK: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 0);

fn secs(s: f64) -> Duration {
    Duration::from_secs_f64(s)
}

/// A dashboard with `edit`'s settings: (address, where its metrics are:
/// the same port, with `--auth none`).
async fn dashboard(c: &Cluster, edit: impl FnOnce(&mut WebArgs)) -> (String, String) {
    let mut web = WebArgs::defaults();
    edit(&mut web);
    let d = teams::dashboard_with(c, Scope::AllNamespaces, LOOPBACK, web).await;
    (d.clone(), d)
}

/// The value of one metric line (`name{labels}`) on the admin port, 0 when absent.
async fn metric(admin: &str, line: &str) -> f64 {
    let (_, body) = call(admin, "GET", "/metrics", &[], "").await;
    body.lines()
        .find_map(|l| l.strip_prefix(line)?.strip_prefix(' '))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0.0)
}

/// When the peer closed `s` (EOF or reset), from `start`; `None` if it is
/// still open at `deadline`. Reads and drops whatever arrives.
fn closed_within(s: &mut TcpStream, start: Instant, deadline: Duration) -> Option<Duration> {
    let mut buf = [0u8; 4096];
    loop {
        let left = deadline.checked_sub(start.elapsed())?;
        s.set_read_timeout(Some(left.max(Duration::from_millis(1))))
            .ok()?;
        match s.read(&mut buf) {
            Ok(0) => return Some(start.elapsed()),
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                if start.elapsed() >= deadline {
                    return None;
                }
            }
            Err(_) => return Some(start.elapsed()),
        }
    }
}

fn connect(addr: &str) -> TcpStream {
    TcpStream::connect(addr).expect("connects")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn half_requests_and_idle_connections_are_closed_within_the_timeouts_in_every_mode() {
    let c = two_teams().await;
    for auth in [AuthMode::None, AuthMode::Proxy] {
        let (d, admin) = dashboard(&c, |w| {
            w.auth = auth;
            w.trusted_proxies = vec![teams::cidr("127.0.0.1/32")];
            w.edge.header_read_timeout = secs(1.0);
            w.edge.idle_timeout = secs(3.0);
        })
        .await;
        let addr = d.clone();
        let (half, idle, kept) = tokio::task::spawn_blocking(move || {
            let mut half: Vec<TcpStream> = (0..100)
                .map(|_| {
                    let mut s = connect(&addr);
                    s.write_all(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
                        .expect("half a request");
                    s
                })
                .collect();
            // Each idle connection's clock starts when it connected (the
            // server's, at its accept, no earlier): a busy machine may take
            // a while to open all of them.
            let mut idle: Vec<(TcpStream, Instant)> = (0..100)
                .map(|_| {
                    let opened = Instant::now();
                    (connect(&addr), opened)
                })
                .collect();
            // A whole request, then nothing: idle after its answer.
            let mut kept = connect(&addr);
            kept.write_all(b"GET /api/v1/version HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
                .expect("a request");
            let start = Instant::now();
            let half_closed: Vec<Option<Duration>> = half
                .iter_mut()
                .map(|s| closed_within(s, start, secs(4.0)))
                .collect();
            let idle_closed: Vec<Option<Duration>> = idle
                .iter_mut()
                .map(|(s, opened)| {
                    closed_within(s, start, secs(8.0))
                        .map(|d| (start + d).saturating_duration_since(*opened))
                })
                .collect();
            let kept_closed = closed_within(&mut kept, start, secs(8.0));
            (half_closed, idle_closed, kept_closed)
        })
        .await
        .expect("the clients ran");
        assert!(
            half.iter().all(|t| t.is_some_and(|t| t < secs(3.5))),
            "{auth:?}: every half request closed after the 1 s header timeout: {half:?}"
        );
        assert!(
            idle.iter()
                .all(|t| t.is_some_and(|t| t >= secs(2.5) && t < secs(7.0))),
            "{auth:?}: idle connections closed at the 3 s idle timeout, not the header timeout: {idle:?}"
        );
        assert!(
            kept.is_some_and(|t| t >= secs(2.5)),
            "{auth:?}: a kept-alive connection is idle after its answer: {kept:?}"
        );
        if auth == AuthMode::None {
            assert!(
                metric(
                    &admin,
                    "rollouts_dashboard_closed_connections_total{reason=\"header_timeout\"}"
                )
                .await
                    >= 100.0
            );
            assert!(
                metric(
                    &admin,
                    "rollouts_dashboard_closed_connections_total{reason=\"idle\"}"
                )
                .await
                    >= 101.0
            );
        }
        let (status, _) = call(&d, "GET", "/api/v1/version", &[], "").await;
        assert_eq!(status, 200, "{auth:?}: and the server answers as before");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_body_that_trickles_is_cut_at_the_header_timeout() {
    let c = two_teams().await;
    let (d, _) = dashboard(&c, |w| w.edge.header_read_timeout = secs(1.0)).await;
    let addr = d.clone();
    let (answer, took) = tokio::task::spawn_blocking(move || {
        let mut s = connect(&addr);
        s.write_all(
            b"PUT /api/v1/rollouts/team-a/web/pause HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{",
        )
        .expect("a head");
        let start = Instant::now();
        let mut answer = String::new();
        let _ = s.set_read_timeout(Some(secs(10.0)));
        let _ = s.read_to_string(&mut answer);
        (answer, start.elapsed())
    })
    .await
    .expect("the client ran");
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    assert!(took < secs(5.0), "{took:?}");
    assert_ne!(
        c.store.get(rt("rollouts"), "team-a", "web").expect("web")["spec"]["paused"],
        json!(true),
        "nothing was done with half a body"
    );
}

/// The dashboard binary under an open-file limit of 160 (so at most 96
/// connections, 64 kept for its own use), flooded by 200 clients that each
/// trickle 30 KB of headers.
#[test]
fn a_flood_past_the_connection_cap_is_refused_within_a_memory_bound_and_service_returns_when_it_ends()
 {
    let port = http::free_port();
    let admin_port = http::free_port();
    let mut child = std::process::Command::new("sh")
        .arg("-c")
        .arg("ulimit -n 160 && exec \"$0\" \"$@\"")
        .arg(env!("CARGO_BIN_EXE_rollouts-dashboard"))
        .args(["demo", "--history-db", "off", "--listen"])
        .arg(format!("127.0.0.1:{port}"))
        .arg("--admin-listen")
        .arg(format!("127.0.0.1:{admin_port}"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("the dashboard starts");
    let addr = format!("127.0.0.1:{port}");
    let admin = format!("127.0.0.1:{admin_port}");
    let start = Instant::now();
    while http::get(&admin, "/readyz").is_none_or(|(s, _)| s != 200) {
        assert!(start.elapsed() < secs(60.0), "the demo became ready");
        std::thread::sleep(Duration::from_millis(100));
    }
    let rss = || rss_kib(child.id());
    let before = rss();

    let line = format!("X-Filler: {}\r\n", "f".repeat(1000));
    let mut flood: Vec<TcpStream> = Vec::new();
    let mut refused = 0;
    for _ in 0..200 {
        let mut s = connect(&addr);
        let _ = s.set_read_timeout(Some(Duration::from_millis(300)));
        let mut first = [0u8; 12];
        // A refused connection is answered at once.
        match s.read(&mut first) {
            Ok(n) if first[..n].starts_with(b"HTTP/1.1 503") => refused += 1,
            _ => flood.push(s),
        }
    }
    for s in &mut flood {
        let _ = s.write_all(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n");
    }
    for _ in 0..30 {
        for s in &mut flood {
            let _ = s.write_all(line.as_bytes());
        }
    }
    let during = rss();
    assert!(
        flood.len() <= 96,
        "at most the connections the file limit leaves room for: {}",
        flood.len()
    );
    assert!(refused >= 104, "the rest were told 503: {refused}");
    let (status, _) = http::get(&admin, "/healthz").expect("the admin port answers");
    assert_eq!(status, 200, "probes still answer");
    let grown = during.saturating_sub(before);
    // Each held connection may buffer one head (32 KiB) and its state.
    let bound = 96 * 64 + 8 * 1024;
    assert!(
        grown < bound,
        "memory grew {grown} KiB under the flood (bound {bound} KiB)"
    );
    // A head past --max-header-bytes is refused, not buffered.
    drop(flood.pop());
    let freed = Instant::now();
    let answer = loop {
        // The place comes back once the server has seen the close.
        let mut big = connect(&addr);
        let _ = big.write_all(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n");
        for _ in 0..40 {
            let _ = big.write_all(line.as_bytes());
        }
        let mut answer = String::new();
        let _ = big.set_read_timeout(Some(secs(5.0)));
        let _ = big.read_to_string(&mut answer);
        if !answer.starts_with("HTTP/1.1 503") || freed.elapsed() > secs(5.0) {
            break answer;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(answer.starts_with("HTTP/1.1 431"), "{answer:?}");

    drop(flood);
    let ended = Instant::now();
    let mut back = None;
    while ended.elapsed() < secs(5.0) {
        if http::get(&addr, "/api/v1/version").is_some_and(|(s, _)| s == 200) {
            back = Some(ended.elapsed());
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let mut log = String::new();
    if let Some(mut e) = child.stderr.take() {
        let _ = e.read_to_string(&mut log);
    }
    let _ = child.wait();
    assert!(
        back.is_some(),
        "the server answered again once the flood ended"
    );
    assert!(
        log.contains("open-file limit allows fewer connections"),
        "{log}"
    );
    assert!(log.contains("connection cap reached"), "{log}");
}

/// A socket that takes almost nothing: its receive buffer is tiny and it
/// is never read.
async fn never_reading(addr: &str, path: &str) -> tokio::net::TcpStream {
    let socket = tokio::net::TcpSocket::new_v4().expect("a socket");
    socket.set_recv_buffer_size(2048).expect("a small buffer");
    let mut s = socket
        .connect(addr.parse().expect("an address"))
        .await
        .expect("connects");
    let head = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nAccept: text/event-stream\r\n\r\n");
    tokio::io::AsyncWriteExt::write_all(&mut s, head.as_bytes())
        .await
        .expect("asks");
    s
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_streams_nobody_reads_are_dropped_and_every_stream_is_capped() {
    let c = two_teams().await;
    let (d, admin) = dashboard(&c, |w| {
        w.edge.write_timeout = secs(1.0);
        w.edge.stream_backlog = 4096;
        w.edge.max_streams_per_client = 40;
    })
    .await;
    let mut readers = Vec::new();
    for i in 0..20 {
        let path = if i % 2 == 0 {
            "/api/v1/rollouts/team-a/info/watch"
        } else {
            "/stream/rollouts/team-a/web"
        };
        readers.push(never_reading(&d, path).await);
    }
    let probe = admin.clone();
    until("the 20 streams are open", move || {
        http::get(&probe, "/metrics")
            .is_some_and(|(_, b)| b.contains("rollouts_dashboard_open_streams 20"))
    })
    .await;
    // A busy rollout: its message changes, and every stream has to say so.
    let filler = "m".repeat(1500);
    for n in 0..400 {
        c.store
            .patch(rt("rollouts"), "team-a", "web", Subresource::Status, |o| {
                o["status"]["message"] = json!(format!("{n} {filler}"));
                Ok(())
            })
            .expect("patched");
        tokio::time::sleep(Duration::from_millis(30)).await;
        if n % 50 == 49 && metric(&admin, "rollouts_dashboard_open_streams").await == 0.0 {
            break;
        }
    }
    let probe = admin.clone();
    until("every stream that was not read is dropped", move || {
        http::get(&probe, "/metrics")
            .is_some_and(|(_, b)| b.contains("rollouts_dashboard_open_streams 0"))
    })
    .await;
    let dropped = metric(
        &admin,
        "rollouts_dashboard_dropped_streams_total{reason=\"slow_reader\"}",
    )
    .await
        + metric(
            &admin,
            "rollouts_dashboard_closed_connections_total{reason=\"write_timeout\"}",
        )
        .await;
    assert!(dropped >= 1.0, "counted as dropped: {dropped}");
    drop(readers);

    // Caps: per client (an address, with --auth none) and in all.
    let (d, _) = dashboard(&c, |w| {
        w.edge.max_streams_per_client = 3;
        w.edge.max_streams = 5;
    })
    .await;
    let addr = d.clone();
    let statuses = tokio::task::spawn_blocking(move || {
        let held: Vec<_> = (0..3)
            .filter_map(|_| http::open_stream(&addr, "/stream/overview"))
            .collect();
        let fourth = http::request_with(
            &addr,
            "GET",
            "/stream/overview",
            &[("Accept", "text/event-stream")],
            "",
        )
        .map(|r| (r.0, r.2));
        (held.len(), fourth)
    })
    .await
    .expect("the client ran");
    assert_eq!(statuses.0, 3);
    let (status, body) = statuses.1.expect("an answer");
    assert_eq!(status, 429, "{body}");
    assert!(body.contains("3 live views"), "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_total_stream_cap_holds_across_clients() {
    let c = two_teams().await;
    let (d, _) = dashboard(&c, |w| {
        w.auth = AuthMode::Proxy;
        w.trusted_proxies = vec![teams::cidr("127.0.0.1/32")];
        w.edge.max_streams_per_client = 10;
        w.edge.max_streams = 4;
    })
    .await;
    let addr = d.clone();
    let (held, fifth, other) = tokio::task::spawn_blocking(move || {
        let alice = [
            ("X-Forwarded-User", "alice"),
            ("X-Forwarded-Groups", "team-a"),
        ];
        let bob = [
            ("X-Forwarded-User", "bob"),
            ("X-Forwarded-Groups", "viewers"),
        ];
        let held: Vec<_> = (0..4)
            .filter_map(|_| http::open_stream_with(&addr, "/stream/overview", &alice))
            .collect();
        let mut h = bob.to_vec();
        h.push(("Accept", "text/event-stream"));
        let fifth = http::request_with(&addr, "GET", "/stream/overview", &h, "").map(|r| r.0);
        drop(held);
        std::thread::sleep(Duration::from_millis(300));
        let other = http::open_stream_with(&addr, "/stream/overview", &bob).is_some();
        (4, fifth, other)
    })
    .await
    .expect("the client ran");
    assert_eq!(held, 4);
    assert_eq!(fifth, Some(429), "the fifth stream, anyone's, waits");
    assert!(other, "a freed place serves the next person");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_page_on_another_site_rebound_to_our_address_cannot_act() {
    let c = two_teams().await;
    let (d, _) = dashboard(&c, |_| {}).await;
    let port = d.rsplit_once(':').expect("a port").1.to_string();
    let foreign = format!("attacker.example:{port}");
    let origin = format!("http://{foreign}");
    // The browser believes attacker.example is 127.0.0.1: Host and Origin agree.
    let (status, body) = call(
        &d,
        "PUT",
        "/api/v1/rollouts/team-a/web/pause",
        &[("Host", foreign.as_str()), ("Origin", origin.as_str())],
        "{}",
    )
    .await;
    assert_eq!(status, 421, "{body}");
    let (status, _) = call(
        &d,
        "GET",
        "/api/v1/rollouts/_all/info",
        &[("Host", foreign.as_str())],
        "",
    )
    .await;
    assert_eq!(status, 421, "nor read");
    assert_ne!(
        c.store.get(rt("rollouts"), "team-a", "web").expect("web")["spec"]["paused"],
        json!(true)
    );
    for name in ["localhost", "127.0.0.1", "[::1]"] {
        let host = format!("{name}:{port}");
        let (status, _) = call(&d, "GET", "/api/v1/version", &[("Host", host.as_str())], "").await;
        assert_eq!(status, 200, "{host}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn behind_a_proxy_that_rewrites_host_actions_from_the_public_url_work() {
    let c = two_teams().await;
    // Alice, signed in by the proxy, acts from the public address.
    let browser = [
        ("Host", "rollouts-dashboard.tools.svc:3100"),
        ("Origin", "https://rollouts.example.com"),
        ("Sec-Fetch-Site", "same-origin"),
        ("X-Forwarded-User", "alice"),
        ("X-Forwarded-Groups", "team-a"),
    ];
    let proxied = |w: &mut WebArgs| {
        w.auth = AuthMode::Proxy;
        w.trusted_proxies = vec![teams::cidr("127.0.0.1/32")];
        w.allowed_hosts = vec!["rollouts-dashboard.tools.svc".into()];
    };
    let (without, _) = dashboard(&c, proxied).await;
    let (status, body) = call(
        &without,
        "PUT",
        "/api/v1/rollouts/team-a/web/pause",
        &browser,
        "{}",
    )
    .await;
    assert_eq!(
        status, 403,
        "without --public-url the origin looks foreign: {body}"
    );
    let (with, _) = dashboard(&c, |w| {
        proxied(w);
        w.public_url = Some("https://rollouts.example.com".into());
    })
    .await;
    let (status, body) = call(
        &with,
        "PUT",
        "/api/v1/rollouts/team-a/web/pause",
        &browser,
        "{}",
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let evil = [
        ("Host", "rollouts-dashboard.tools.svc:3100"),
        ("Origin", "https://evil.example"),
        ("X-Forwarded-User", "alice"),
        ("X-Forwarded-Groups", "team-a"),
    ];
    let (status, _) = call(
        &with,
        "PUT",
        "/api/v1/rollouts/team-a/web/resume",
        &evil,
        "{}",
    )
    .await;
    assert_eq!(status, 403);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_tenants_megabyte_of_status_text_leaves_everyone_elses_pages_small() {
    let c = two_teams().await;
    let (d, _) = dashboard(&c, |_| {}).await;
    let huge = format!("{}END", "<b>spam</b> ".repeat(90_000));
    assert!(huge.len() > 1_000_000);
    c.store
        .patch(rt("rollouts"), "team-a", "web", Subresource::Status, |o| {
            o["status"]["message"] = json!(huge);
            Ok(())
        })
        .expect("patched");
    let probe = d.clone();
    until("the view has the message", move || {
        http::get(&probe, "/api/v1/rollouts/team-a/web/info")
            .is_some_and(|(_, b)| b.len() > 1_000_000)
    })
    .await;
    let (status, page) = call(&d, "GET", "/", &[], "").await;
    assert_eq!(status, 200);
    assert!(page.len() < 300_000, "the overview is {} bytes", page.len());
    assert!(!page.contains("<b>spam"), "escaped");
    // The stream's first full view is small too.
    let addr = d.clone();
    let first = tokio::task::spawn_blocking(move || {
        let mut s = http::open_stream(&addr, "/stream/overview").expect("the stream opens");
        let mut seen = Vec::new();
        let mut buf = [0u8; 8192];
        let start = Instant::now();
        while start.elapsed() < secs(3.0) {
            match s.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => seen.extend_from_slice(&buf[..n]),
            }
            if seen.len() > 2_000_000 {
                break;
            }
        }
        seen.len()
    })
    .await
    .expect("read");
    assert!(first < 300_000, "the overview stream sent {first} bytes");
    // The rollout's own page says it is cut, and the whole is a click away.
    let (_, page) = call(&d, "GET", "/rollouts/team-a/web", &[], "").await;
    assert!(
        page.len() < 300_000,
        "the rollout page is {} bytes",
        page.len()
    );
    assert!(page.contains("/rollouts/team-a/web/message\">Whole message</a>"));
    let (status, head, whole) = exchange(&d, "GET", "/rollouts/team-a/web/message", &[], "").await;
    assert_eq!(status, 200);
    assert!(
        head.to_ascii_lowercase()
            .contains("content-type: text/plain"),
        "{head}"
    );
    assert!(whole.ends_with("END") && whole.len() == huge.len());
}
