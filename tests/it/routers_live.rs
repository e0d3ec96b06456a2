//! Each router's weights through the steps, live: the simulated controller
//! writes them as Argo's controller and the Gateway API plugin do (NGINX's
//! canary Ingress, ALB's forward action, the HTTPRoute's backendRefs), the
//! dashboard reads the split from those objects, and a rollout's page
//! stream follows set weight, promote and abort back to 0.

use crate::harness;

use axum::http::StatusCode;
use harness::{Dashboard, Options, react, rt, seed_at_pause};
use rollouts_dashboard::cluster::client::Scope;
use rollouts_dashboard::cluster::hub::Snapshot;
use rollouts_dashboard::cluster::object::Kind;
use rollouts_dashboard::model::RolloutKey;
use rollouts_dashboard::sim::store::Store;
use serde_json::{Value, json};

/// The view's split of a rollout: (router, canary weight, matches).
fn split(snap: &Snapshot, ns: &str, name: &str) -> Option<(String, i32, bool)> {
    let info = snap
        .rollouts
        .get(&RolloutKey::new(ns, name))?
        .json
        .info()
        .ok()?;
    let t = info.traffic?;
    Some((t.router, t.canary_weight?, t.matches_desired))
}

fn expect(store: &Store, ns: &str, name: &str) -> String {
    let st = store
        .get(rt("rollouts"), ns, name)
        .map(|r| r["status"].clone())
        .unwrap_or(Value::Null);
    json!({"expect": {"podTemplateHash": st["currentPodHash"], "stepIndex": st["currentStepIndex"]}})
        .to_string()
}

#[tokio::test]
async fn each_routers_weights_follow_the_steps_live() {
    let (store, controller) = seed_at_pause();
    let d = Dashboard::start_observing(
        store.clone(),
        Scope::AllNamespaces,
        Options::default(),
        None,
        |_| {},
    )
    .await;
    d.until("every router's split at the first pause", |s| {
        split(s, "nginx-demo", "storefront") == Some(("nginx".into(), 20, true))
            && split(s, "alb-demo", "payments") == Some(("alb".into(), 10, true))
            && split(s, "gateway-demo", "catalog") == Some(("gatewayAPI".into(), 30, true))
    })
    .await;
    // Every Gateway API route kind is watched, TCPRoute and TLSRoute in
    // v1alpha2 (the version serving them).
    d.until("the Gateway API kinds watched", |s| {
        [
            Kind::HttpRoute,
            Kind::GrpcRoute,
            Kind::TcpRoute,
            Kind::TlsRoute,
        ]
        .iter()
        .all(|k| s.health.synced(*k, None))
    })
    .await;

    // What the controller wrote, as the API server has it.
    let canary = store
        .get(
            rt("ingresses"),
            "nginx-demo",
            "storefront-storefront-canary",
        )
        .expect("the canary Ingress the controller made");
    assert_eq!(
        canary["metadata"]["annotations"]["nginx.ingress.kubernetes.io/canary-weight"],
        "20"
    );
    assert_eq!(
        canary["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]["name"],
        "storefront-canary"
    );
    assert_eq!(
        canary["metadata"]["ownerReferences"][0]["name"],
        "storefront"
    );

    // The NGINX rollout's page follows a promote to 60%.
    let mut page = d
        .watch("/stream/rollouts/nginx-demo/storefront", true)
        .await;
    let (code, _, body) = d
        .send(
            "PUT",
            "/api/v1/rollouts/nginx-demo/storefront/promote",
            &[],
            &expect(&store, "nginx-demo", "storefront"),
        )
        .await;
    assert_eq!(code, StatusCode::OK, "{body}");
    react(&store, &controller, 0);
    page.until("the traffic panel at 60%", |m| {
        m["id"] == "traffic"
            && m["html"].as_str().is_some_and(|h| {
                h.contains("60% canary")
                    && h.contains("NGINX · Ingress storefront-storefront-canary")
            })
    })
    .await;

    // ALB: promote to 50%.
    let (code, _, body) = d
        .send(
            "PUT",
            "/api/v1/rollouts/alb-demo/payments/promote",
            &[],
            &expect(&store, "alb-demo", "payments"),
        )
        .await;
    assert_eq!(code, StatusCode::OK, "{body}");
    react(&store, &controller, 0);
    d.until("ALB at 50%", |s| {
        split(s, "alb-demo", "payments") == Some(("alb".into(), 50, true))
    })
    .await;
    let action = store
        .get(rt("ingresses"), "alb-demo", "payments")
        .map(|i| {
            i["metadata"]["annotations"]["alb.ingress.kubernetes.io/actions.payments-root"].clone()
        })
        .unwrap_or(Value::Null);
    let action: Value =
        serde_json::from_str(action.as_str().unwrap_or("null")).unwrap_or(Value::Null);
    assert_eq!(action["ForwardConfig"]["TargetGroups"][0]["Weight"], 50);

    // Gateway API: abort, back to 0 on the HTTPRoute.
    let (code, _, body) = d
        .send(
            "PUT",
            "/api/v1/rollouts/gateway-demo/catalog/abort",
            &[],
            "",
        )
        .await;
    assert_eq!(code, StatusCode::OK, "{body}");
    react(&store, &controller, 0);
    d.until("the Gateway API route back at 0", |s| {
        split(s, "gateway-demo", "catalog") == Some(("gatewayAPI".into(), 0, true))
    })
    .await;
    let route = store
        .get(rt("httproutes"), "gateway-demo", "catalog")
        .expect("the HTTPRoute");
    let weights: Vec<(Value, Value)> = route["spec"]["rules"][0]["backendRefs"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|b| (b["name"].clone(), b["weight"].clone()))
        .collect();
    assert_eq!(
        weights,
        [
            (json!("catalog-stable"), json!(100)),
            (json!("catalog-canary"), json!(0))
        ]
    );
}
