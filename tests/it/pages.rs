//! The pages as a browser receives them, without a browser: every string
//! from the cluster is escaped, fragments sent alone are exactly the parts
//! of the full page, the overview filters from its URL, and the page stays
//! small and self-contained (CSP, no outside requests).

use crate::harness;

use axum::http::{StatusCode, header};
use harness::{Dashboard, rt};
use rollouts_dashboard::cluster::client::Scope;
use rollouts_dashboard::model::RolloutKey;
use rollouts_dashboard::sim::store::Subresource;
use rollouts_dashboard::web::templates::detail_fragments;
use rollouts_dashboard::web::view::detail::DetailView;
use serde_json::json;

async fn page(d: &Dashboard, path: &str) -> (StatusCode, axum::http::HeaderMap, String) {
    let resp = d.request(path, None).await;
    let status = resp.status();
    let headers = resp.headers().clone();
    let bytes = axum::body::to_bytes(resp.into_body(), 16 << 20)
        .await
        .expect("a body");
    (
        status,
        headers,
        String::from_utf8_lossy(&bytes).into_owned(),
    )
}

#[tokio::test]
async fn strings_from_the_cluster_are_escaped() {
    let d = harness::seeded().await;
    d.store
        .patch(
            rt("rollouts"),
            "shop",
            "checkout",
            Subresource::Status,
            |o| {
                o["status"]["phase"] = json!("Degraded");
                o["status"]["message"] = json!("<script>alert('owned')</script>");
                Ok(())
            },
        )
        .expect("patched");
    d.until("the message shown", |s| {
        s.rollouts
            .get(&RolloutKey::new("shop", "checkout"))
            .is_some_and(|e| e.summary.message.contains("owned"))
    })
    .await;
    for path in ["/", "/rollouts/shop/checkout"] {
        let (status, _, html) = page(&d, path).await;
        assert_eq!(status, StatusCode::OK);
        assert!(
            !html.contains("<script>alert"),
            "{path} lets a script through"
        );
        assert!(
            html.contains("&#60;script&#62;alert(&#39;owned&#39;)&#60;/script&#62;"),
            "{path} shows the message as text"
        );
    }
}

#[tokio::test]
async fn fragments_alone_equal_the_same_part_of_the_page() {
    let d = harness::seeded().await;
    let snap = d.view.snapshot();
    for (key, entry) in snap.rollouts.iter() {
        let (_, _, html) = page(&d, &format!("/rollouts/{}/{}", key.namespace, key.name)).await;
        let view = DetailView::of(entry, &entry.info(key));
        for (id, fragment) in detail_fragments(&view, "/", false) {
            assert!(
                html.contains(&fragment),
                "{key}: fragment {id} differs from the page"
            );
        }
    }
    // A card is rendered when first shown, then the same for everyone.
    assert!(snap.rollouts.values().all(|e| e.card.get().is_none()));
    let (_, _, overview) = page(&d, "/").await;
    for entry in snap.rollouts.values() {
        let card = entry.card.get().expect("rendered for the page");
        assert!(
            overview.contains(&**card),
            "a card differs from the overview"
        );
    }
}

#[tokio::test]
async fn the_overview_filters_from_its_url_and_says_why_it_is_empty() {
    let d = harness::seeded().await;
    let snap = d.view.snapshot();
    let status = &snap.rollouts[&RolloutKey::new("shop", "checkout")]
        .summary
        .status;
    let (_, _, html) = page(&d, &format!("/?q=check&status={status}")).await;
    // The server filters: what does not match is not on the page at all.
    let shown = |html: &str, id: &str| html.contains(&format!("id=\"{id}\""));
    assert!(shown(&html, "r-shop--checkout"));
    assert!(!shown(&html, "r-manifest-gen--manifest-gen"));
    assert!(
        html.contains("value=\"check\""),
        "the search keeps its text"
    );

    let (_, _, html) = page(&d, "/?q=nothing-like-this").await;
    assert!(html.contains("No rollout matches these filters."));
}

#[tokio::test]
async fn pages_are_small_self_contained_and_locked_down() {
    let d = harness::seeded().await;
    // Ten rollouts, as the page-weight goal says.
    let seeded = d.sim_infos().len();
    for i in 0..10 - seeded {
        let ro = json!({"apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout",
            "metadata": {"name": format!("extra-{i}"), "namespace": "shop"},
            "spec": {"replicas": 2, "strategy": {"canary": {"steps": [{"setWeight": 20}, {"pause": {}}]}},
                     "template": {"spec": {"containers": [{"name": "app", "image": "app:1"}]}}}});
        d.store
            .create(rt("rollouts"), "shop", ro, false)
            .expect("created");
    }
    d.until("ten rollouts", |s| s.rollouts.len() == 10).await;
    let (status, headers, html) = page(&d, "/").await;
    assert_eq!(status, StatusCode::OK);
    let csp = headers
        .get(header::CONTENT_SECURITY_POLICY)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    assert!(
        csp.contains("default-src 'self'") && csp.contains("script-src 'self'"),
        "{csp}"
    );
    assert!(
        !html.contains("<script>") && !html.contains(" style=\""),
        "no inline script or style"
    );
    assert!(
        !html.contains("http://") && !html.contains("https://"),
        "no outside requests"
    );
    let (_, _, css) = page(&d, "/static/app.css").await;
    let (_, _, js) = page(&d, "/static/app.js").await;
    assert!(!css.contains("http") && !js.contains("http://") && !js.contains("https://"));
    let weight = html.len() + css.len() + js.len();
    println!("overview with 10 rollouts: {weight} bytes (HTML + CSS + JS)");
    assert!(weight < 100 * 1024, "overview weighs {weight} bytes");
    let (status, _, _) = page(&d, "/rollouts/shop/nobody").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // An icon, linked and where browsers ask unprompted: no 404 in the
    // console.
    assert!(html.contains(r#"<link rel="icon" href="/static/favicon.svg""#));
    for path in ["/static/favicon.svg", "/favicon.ico"] {
        let (status, headers, svg) = page(&d, path).await;
        assert_eq!(status, StatusCode::OK, "{path}");
        assert_eq!(
            headers
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok()),
            Some("image/svg+xml"),
            "{path}"
        );
        assert!(svg.starts_with("<svg"), "{path}");
    }
}

/// The overview's stream does not re-send the cards the page was just
/// rendered with (megabytes at thousands of rollouts), only what changed
/// after it; a page from another process (a restart, another replica)
/// gets every card.
#[tokio::test]
async fn the_overview_stream_sends_only_what_changed_after_the_page() {
    let d = harness::seeded().await;
    let (_, _, html) = page(&d, "/").await;
    let stream = html
        .split("data-stream=\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .expect("the page names its stream")
        .replace("&amp;", "&");
    assert!(stream.starts_with("/stream/overview?since="), "{stream}");

    let cards_until_resync = |mut m: harness::Messages| async move {
        let mut cards = Vec::new();
        loop {
            let msg = m.next().await;
            if let Some(ids) = msg.get("ids") {
                return (cards, ids.as_array().map_or(0, Vec::len), m);
            }
            if msg.get("ns").is_some() {
                cards.push(msg["id"].as_str().unwrap_or_default().to_string());
            }
        }
    };
    let (cards, ids, mut m) = cards_until_resync(d.watch(&stream, true).await).await;
    assert!(
        cards.is_empty(),
        "nothing changed since the page: {cards:?}"
    );
    assert_eq!(
        ids,
        d.sim_infos().len(),
        "the page still learns which cards exist"
    );

    d.store
        .patch(
            rt("rollouts"),
            "shop",
            "checkout",
            Subresource::Status,
            |o| {
                o["status"]["message"] = json!("changed after the page");
                Ok(())
            },
        )
        .expect("the patch applies");
    let card = m
        .until("the changed card", |msg| msg.get("ns").is_some())
        .await;
    assert!(
        card["id"].as_str().unwrap_or_default().contains("checkout"),
        "{card}"
    );

    let (cards, _, _) = cards_until_resync(d.watch("/stream/overview?since=1.5", true).await).await;
    assert_eq!(
        cards.len(),
        d.sim_infos().len(),
        "another process's page gets every card"
    );
}

/// istio-demo/reviews once past its header route, mirror route, experiment
/// and plugin steps: the page names each managed route as the
/// VirtualService has it, shows the experiment with its templates and
/// analysis, and the plugin step's config and what it reported.
#[tokio::test]
async fn the_rollout_page_shows_managed_routes_experiments_and_plugin_steps() {
    let (store, controller) = harness::seed_at_pause();
    for _ in 0..30 {
        harness::react(&store, &controller, 3);
        let ro = store
            .get(rt("rollouts"), "istio-demo", "reviews")
            .expect("reviews");
        if ro["status"]["currentStepIndex"] == 5 {
            break;
        }
    }
    let d = Dashboard::start(store, Scope::AllNamespaces).await;
    d.until_view_matches_sim().await;
    let (status, _, html) = page(&d, "/rollouts/istio-demo/reviews").await;
    assert_eq!(status, StatusCode::OK);
    for shows in [
        "Header route testers: requests with x-canary: yes go to the canary",
        "Mirror route mirror-reads: 25% of requests with GET copied to the canary",
        r#"<h2 id="experiments-title">Experiments</h2>"#,
        "baseline: 0 of 0 available",
        "Analysis: reviews-",
        "-compare: Successful",
        "Config: <code>expect: 200, url: http://reviews-canary.istio-demo/healthz</code>",
        "Successful: simulated plugin: all checks passed",
    ] {
        assert!(html.contains(shows), "{shows}\n{html}");
    }
    // A rollout without experiment steps has no such panel.
    let (_, _, seed) = page(&d, "/rollouts/manifest-gen/manifest-gen").await;
    assert!(!seed.contains("experiments-title"));
}

/// One error path: what a page cannot show is a page with the right status
/// and the reason, and the same failure through the API is grpc-gateway's
/// JSON with the same status.
#[tokio::test]
async fn an_error_is_a_page_for_a_browser_and_json_for_the_api() {
    let d = harness::seeded().await;
    let (status, headers, body) = page(&d, "/rollouts/shop/no-such-rollout").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let kind = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    assert!(kind.starts_with("text/html"), "{kind}");
    assert!(body.contains("<h1>Not found</h1>"), "{body}");
    assert!(
        body.contains("There is no rollout no-such-rollout in namespace shop"),
        "{body}"
    );
    let (status, _, body) = page(&d, "/rollouts/nowhere/x").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(
        body.contains("This dashboard shows no rollouts in namespace"),
        "{body}"
    );
    let (status, _, json) = d.get("/api/v1/rollouts/shop/no-such-rollout/info").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(json["code"], 5, "{json}");
    assert!(
        json["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{json}"
    );
}
