//! The overview's feeds (src/web/overview_feed.rs): pages that show the
//! same thing share one follower of the cluster; each still gets every
//! change it shows, only those, and what its person's rights allow.

use std::net::SocketAddr;
use std::time::Duration;

use rollouts_dashboard::cli::{AuthMode, WebArgs};
use rollouts_dashboard::cluster::client::Scope;
use rollouts_dashboard::sim::store::Subresource;
use serde_json::{Value, json};

use crate::harness::{self, Dashboard, Messages, PATIENCE, rt};
use crate::teams::{self, ALICE, BOB, open, read_until};

/// The ids of the first `resync` on `stream` that holds `id`, sorted.
async fn resync_with(stream: std::net::TcpStream, id: &'static str) -> Vec<String> {
    tokio::task::spawn_blocking(move || {
        let _ = stream.set_read_timeout(Some(PATIENCE));
        let mut ids = teams::resync_ids_until(stream, |ids| ids.iter().any(|i| i == id));
        ids.sort();
        ids
    })
    .await
    .expect("the stream was read")
}

const LOOPBACK: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 0);

/// Reads a page's stream up to its first `resync` (its first full view).
async fn first_view(mut m: Messages) -> Messages {
    m.until("the first full view", |msg| msg.get("ids").is_some())
        .await;
    m
}

fn set_message(d: &Dashboard, ns: &str, name: &str, text: &str) {
    d.store
        .patch(rt("rollouts"), ns, name, Subresource::Status, |o| {
            o["status"]["message"] = json!(text);
            Ok(())
        })
        .expect("the patch applies");
}

fn is_card_of(msg: &Value, name: &str) -> bool {
    msg.get("ns").is_some() && msg["id"].as_str().is_some_and(|id| id.ends_with(name))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_showing_the_same_thing_share_a_feed_and_each_gets_its_changes() {
    let d = harness::seeded().await;
    assert_eq!(d.metrics.overview_feeds_open(), 0, "no page open, no feed");
    let mut everything = Vec::new();
    for _ in 0..3 {
        everything.push(first_view(d.watch("/stream/overview", true).await).await);
    }
    let mut checkout = first_view(d.watch("/stream/overview?q=checkout", true).await).await;
    assert_eq!(
        d.metrics.overview_feeds_open(),
        2,
        "three pages of everything and one filtered page: two feeds"
    );

    let infos = d.sim_infos();
    let other = infos
        .iter()
        .map(|(k, _)| k)
        .find(|k| !k.name.contains("checkout"))
        .expect("the seed has more than checkout");
    set_message(&d, &other.namespace, &other.name, "only unfiltered");
    set_message(&d, "shop", "checkout", "on every page");
    for m in &mut everything {
        let first = m.until("a card", |msg| msg.get("ns").is_some()).await;
        assert!(is_card_of(&first, &other.name), "{first}");
        let second = m.until("a card", |msg| msg.get("ns").is_some()).await;
        assert!(is_card_of(&second, "checkout"), "{second}");
    }
    let card = checkout
        .until("a card", |msg| msg.get("ns").is_some())
        .await;
    assert!(
        is_card_of(&card, "checkout"),
        "the filtered page gets no card it does not show: {card}"
    );

    drop(everything);
    drop(checkout);
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while d.metrics.overview_feeds_open() > 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the feeds close with their last page"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rollout_in_a_new_namespace_reaches_only_the_pages_of_those_who_may_see_it() {
    // Bob's group may read rollouts in every namespace; Alice's only in
    // team-a.
    let everywhere = json!({
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRoleBinding",
        "metadata": {"name": "viewers-everywhere"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                    "name": "rollouts-viewer"},
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group",
                      "name": "viewers"}]
    });
    let rbac = teams::documents(&teams::fixtures().join("dashboard-rbac.yaml"));
    let c = teams::cluster(teams::DASHBOARD_SA, rbac, vec![everywhere]).await;
    let web = WebArgs {
        auth: AuthMode::Proxy,
        trusted_proxies: vec![teams::cidr("127.0.0.1/32")],
        // No periodic look at their rights during the test: the new
        // namespace alone must bring it.
        access_check_interval: 3600,
        ..WebArgs::defaults()
    };
    let d = teams::dashboard_with(&c, Scope::AllNamespaces, LOOPBACK, web).await;
    let bobs = open(&d, "/stream/overview", BOB).await;
    let alices = open(&d, "/stream/overview", ALICE).await;

    let mut web_c = (*c
        .store
        .get(harness::rt("rollouts"), "team-a", "web")
        .expect("team-a/web"))
    .clone();
    web_c["metadata"] = json!({"name": "web", "namespace": "team-c"});
    c.store
        .create(harness::rt("rollouts"), "team-c", web_c, false)
        .expect("team-c/web is created");
    let ids = resync_with(bobs, "r-team-c--web").await;
    assert_eq!(
        ids,
        ["r-team-a--web", "r-team-b--api", "r-team-c--web"],
        "Bob's page shows the new namespace's rollout beside the others"
    );
    // A change Alice sees, made after: her stream has passed the new
    // rollout by the time it shows this.
    c.store
        .patch(
            harness::rt("rollouts"),
            "team-a",
            "web",
            Subresource::Status,
            |o| {
                o["status"]["message"] = json!("after team-c");
                Ok(())
            },
        )
        .expect("the patch applies");
    let alices = read_until(alices, "after team-c", Duration::from_secs(10)).await;
    assert!(alices.contains("after team-c"), "{alices}");
    assert!(!alices.contains("team-c--web"), "{alices}");
}
