//! The access cache (cluster/access.rs) against the simulated cluster that
//! answers reviews from its RBAC: one review per question and refresh
//! interval, however many ask at once; asked again once the interval has
//! passed; a failure never remembered; tokens remembered by hash, bad ones
//! too, and their reviews limited per client address.

use crate::teams;
use crate::teams::two_teams;

use std::net::IpAddr;
use std::time::Duration;

use rollouts_dashboard::cluster::access::{AccessReviews, CheckError, User};
use teams::Cluster;

fn reviews_of(c: &Cluster, kind: &str) -> usize {
    c.sim
        .requests()
        .iter()
        .filter(|r| r.path.contains(kind))
        .count()
}

fn client(c: &Cluster) -> kube::Client {
    let mut config = kube::Config::new(format!("http://{}", c.addr).parse().expect("a URL"));
    config.auth_info.token = Some(secrecy::SecretString::from("dashboard-token"));
    kube::Client::try_from(config).expect("a client")
}

fn alice() -> User {
    User::named("alice", vec!["team-a".into()], None)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_review_per_question_and_interval_however_many_ask() {
    let c = two_teams().await;
    let access = AccessReviews::new(client(&c), Duration::from_millis(600));
    let asks = (0..20).map(|_| {
        let a = access.clone();
        async move { a.in_namespace(&alice(), "team-a").await }
    });
    let answers = futures_util::future::join_all(asks).await;
    assert!(
        answers
            .iter()
            .all(|a| a.as_ref().is_ok_and(|a| a.list && a.patch_status))
    );
    assert_eq!(
        reviews_of(&c, "subjectaccessreviews"),
        3,
        "list, patch status, patch: once"
    );
    let b = access
        .in_namespace(&alice(), "team-b")
        .await
        .expect("answered");
    assert!(!b.list, "not hers");
    assert_eq!(reviews_of(&c, "subjectaccessreviews"), 6);
    // Once the interval has passed, the question is asked again (polled:
    // each ask before then is answered from the cache).
    let before = reviews_of(&c, "subjectaccessreviews");
    let started = std::time::Instant::now();
    while reviews_of(&c, "subjectaccessreviews") == before {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "never asked again"
        );
        access
            .in_namespace(&alice(), "team-a")
            .await
            .expect("answered");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        started.elapsed() >= Duration::from_millis(300),
        "not before its time"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failure_is_not_remembered() {
    let c = two_teams().await;
    let access = AccessReviews::new(client(&c), Duration::from_secs(60));
    c.sim.faults.fail_next(3, 500);
    let failed = access.in_namespace(&alice(), "team-a").await;
    assert!(matches!(failed, Err(CheckError::Review(_))), "{failed:?}");
    let answered = access.in_namespace(&alice(), "team-a").await;
    assert!(answered.is_ok_and(|a| a.list), "asked again, and allowed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_are_remembered_and_their_reviews_limited_per_address() {
    let c = two_teams().await;
    let access = AccessReviews::new(client(&c), Duration::from_secs(60));
    let here: IpAddr = "192.0.2.7".parse().expect("an address");
    let alice = access
        .token_user("alice-token", Some(here))
        .await
        .expect("answered");
    assert_eq!(alice.map(|u| u.name).as_deref(), Some("alice"));
    assert_eq!(access.token_user("nope", Some(here)).await, Ok(None));
    assert_eq!(reviews_of(&c, "tokenreviews"), 2);
    // Both answers are remembered: no review for either again.
    for _ in 0..5 {
        assert!(
            access
                .token_user("alice-token", Some(here))
                .await
                .is_ok_and(|u| u.is_some())
        );
        assert_eq!(access.token_user("nope", Some(here)).await, Ok(None));
    }
    assert_eq!(reviews_of(&c, "tokenreviews"), 2);
    // New tokens from one address: a burst, then refused without a review.
    let mut refused = 0;
    for i in 0..40 {
        if let Err(CheckError::TooManyTokens(_)) =
            access.token_user(&format!("made-up-{i}"), Some(here)).await
        {
            refused += 1;
        }
    }
    assert!(refused >= 15, "{refused} refused");
    assert!(
        reviews_of(&c, "tokenreviews") <= 2 + 25,
        "{}",
        reviews_of(&c, "tokenreviews")
    );
    // Another address still gets its own.
    let there: IpAddr = "198.51.100.9".parse().expect("an address");
    assert!(
        access
            .token_user("carol-token", Some(there))
            .await
            .is_ok_and(|u| u.is_some())
    );
}
