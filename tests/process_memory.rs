//! The one test that measures its own process's memory, so nothing else
//! may run in it: an in-process dashboard asked 20,000 made-up tokens grows
//! by less than 5 MB and costs the API server a bounded number of
//! TokenReviews. Every other integration test is in `tests/it/`.

// The shared helpers, of which this test uses a part.
#[allow(dead_code)]
#[path = "it/common.rs"]
mod common;
#[allow(dead_code)]
#[path = "it/harness/mod.rs"]
mod harness;
#[allow(dead_code)]
#[path = "it/http.rs"]
mod http;
#[allow(dead_code)]
#[path = "it/teams.rs"]
mod teams;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use rollouts_dashboard::cli::AuthMode;
use rollouts_dashboard::cluster::client::Scope;
use teams::{call, two_teams};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn made_up_tokens_cost_a_bounded_number_of_token_reviews() {
    let c = two_teams().await;
    let d = teams::dashboard(&c, AuthMode::Token, &[], Scope::AllNamespaces).await;
    let rss = || -> u64 {
        std::fs::read_to_string("/proc/self/status")
            .ok()
            .and_then(|s| {
                s.lines()
                    .find_map(|l| l.strip_prefix("VmRSS:"))
                    .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            })
            .unwrap_or(0)
    };
    // Warm up the dashboard's own allocations with a real token first.
    let (status, _) = call(
        &d,
        "GET",
        "/api/v1/rollouts/_all/info",
        &[("Authorization", "Bearer alice-token")],
        "",
    )
    .await;
    assert_eq!(status, 200);
    let reviews_before = c.count("tokenreviews");
    let rss_before = rss();
    let sent = Arc::new(AtomicUsize::new(0));
    let refused = Arc::new(AtomicUsize::new(0));
    let workers: Vec<_> = (0..8)
        .map(|w| {
            let (d, sent, refused) = (d.clone(), sent.clone(), refused.clone());
            std::thread::spawn(move || {
                for i in 0..2500 {
                    let token = format!("Bearer made-up-{w}-{i}-{}", i * 7919 + w);
                    let answer = http::request_with(
                        &d,
                        "GET",
                        "/api/v1/rollouts/_all/info",
                        &[("Authorization", token.as_str())],
                        "",
                    );
                    sent.fetch_add(1, Ordering::Relaxed);
                    if let Some((s, _, _)) = answer {
                        assert!(s == 401 || s == 429, "a made-up token got {s}");
                        refused.fetch_add(1, Ordering::Relaxed);
                    }
                }
            })
        })
        .collect();
    for w in workers {
        w.join().expect("a worker");
    }
    assert_eq!(sent.load(Ordering::Relaxed), 20_000);
    assert_eq!(
        refused.load(Ordering::Relaxed),
        20_000,
        "every request was answered"
    );
    let reviews = c.count("tokenreviews") - reviews_before;
    let grown_kb = rss().saturating_sub(rss_before);
    eprintln!("20,000 made-up tokens: {reviews} TokenReviews, {grown_kb} kB more resident");
    assert!(
        reviews <= 300,
        "{reviews} TokenReviews reached the API server"
    );
    assert!(grown_kb < 5 * 1024, "memory grew by {grown_kb} kB");
    // A real person from another address is not affected... and from this
    // one, a known token costs nothing new.
    let (status, _) = call(
        &d,
        "GET",
        "/api/v1/rollouts/_all/info",
        &[("Authorization", "Bearer alice-token")],
        "",
    )
    .await;
    assert_eq!(status, 200, "a known token still works");
}
