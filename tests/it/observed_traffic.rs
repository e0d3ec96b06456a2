//! Observed traffic end to end with a real Prometheus (Debian's package)
//! scraping the simulated mesh every second. The seed runs in Istio's
//! ambient mode, so its metrics come from a waypoint, labelled per
//! destination workload as Istio labels them: the share, success rate and
//! latency per revision follow the canary through its steps, reach the
//! rollout page and its live stream, a canary answering with 5xx is
//! marked, and a Prometheus that stops shows in that panel only, until it
//! returns. Without a version label Istio names both revisions after the
//! rollout, and the panel says so rather than claim a share.

use crate::harness;

use std::time::Duration;

use axum::http::StatusCode;
use harness::prometheus::Prometheus;
use harness::{Dashboard, Options, patch_seed, react, rt, seed_at_pause, seed_with_controller};
use rollouts_dashboard::cluster::client::Scope;
use rollouts_dashboard::observed::ObservedSettings;
use rollouts_dashboard::observed::prometheus::PrometheusAccess;
use rollouts_dashboard::observed::queries::QueryScope;
use serde_json::{Value, json};

const SEED: &str = "/api/v1/rollouts/manifest-gen/manifest-gen";
const PAGE: &str = "/rollouts/manifest-gen/manifest-gen";
/// Prometheus needs a few scrapes before a rate over the window settles.
const PATIENCE: Duration = Duration::from_secs(60);

fn settings(port: u16) -> ObservedSettings {
    ObservedSettings {
        access: PrometheusAccess {
            url: Prometheus::url(port),
            ..PrometheusAccess::default()
        },
        scope: QueryScope {
            pod_label: "pod".into(),
            namespace_label: "namespace".into(),
            window: Duration::from_secs(5),
            namespaces: None,
            cluster: None,
        },
        interval: Duration::from_secs(1),
        comparison: Default::default(),
    }
}

fn role<'a>(observed: &'a Value, role: &str) -> Option<&'a Value> {
    observed["revisions"]
        .as_array()?
        .iter()
        .find(|r| r["role"] == role)
}

fn share(observed: &Value, name: &str) -> f64 {
    role(observed, name)
        .and_then(|r| r["share"].as_f64())
        .unwrap_or(-1.0)
}

/// Asks `{SEED}{path}` until `ok`; panics with the last answer after
/// PATIENCE.
async fn until_answer(d: &Dashboard, path: &str, what: &str, ok: impl Fn(&Value) -> bool) -> Value {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let (status, _, body) = d.get(&format!("{SEED}{path}")).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        if ok(&body) {
            return body;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{what}: not within {PATIENCE:?}; last answer {body:#}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Asks `/observed` until `ok`.
async fn until_observed(d: &Dashboard, what: &str, ok: impl Fn(&Value) -> bool) -> Value {
    until_answer(d, "/observed", what, ok).await
}

async fn page(d: &Dashboard) -> String {
    let resp = d.request(PAGE, None).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let bytes = axum::body::to_bytes(resp.into_body(), 16 << 20)
        .await
        .expect("the page");
    String::from_utf8_lossy(&bytes).into_owned()
}

/// The rollout page's `observed` section.
fn observed_section(html: &str) -> &str {
    let start = html
        .find(r#"<section id="observed""#)
        .unwrap_or_else(|| panic!("the page has no observed panel: {html}"));
    let len = html[start..].find("</section>").unwrap_or(0);
    &html[start..start + len]
}

/// The seed with a `version` label on its template (v1, then v2 with the
/// release), at its first pause: Istio's canonical revision tells the
/// revisions apart in the waypoint's series.
fn seed_with_versions_at_pause() -> (
    std::sync::Arc<rollouts_dashboard::sim::store::Store>,
    rollouts_dashboard::sim::controller::Controller,
) {
    seed_at_pause_in(Dataplane::Ambient)
}

/// Where the seed's pods get their mesh: the seed's ambient mode (a
/// waypoint's series per workload), or sidecars (each pod's own series,
/// which Prometheus sums per ReplicaSet by the pod's name).
#[derive(Clone, Copy, PartialEq)]
enum Dataplane {
    Ambient,
    Sidecar,
}

fn seed_at_pause_in(
    dataplane: Dataplane,
) -> (
    std::sync::Arc<rollouts_dashboard::sim::store::Store>,
    rollouts_dashboard::sim::controller::Controller,
) {
    let (store, controller) = seed_with_controller();
    let label = move |version: &'static str| {
        move |o: &mut Value| {
            let labels = &mut o["spec"]["template"]["metadata"]["labels"];
            labels["version"] = json!(version);
            if dataplane == Dataplane::Sidecar
                && let Some(l) = labels.as_object_mut()
            {
                l.remove("istio.io/dataplane-mode");
            }
            Ok(())
        }
    };
    patch_seed(&store, label("v1"));
    react(&store, &controller, 3);
    patch_seed(&store, |o| {
        rollouts_dashboard::sim::scenario::set_image(o, "manifest-gen", "ealen/echo-server:latest");
        label("v2")(o)
    });
    react(&store, &controller, 3);
    (store, controller)
}

/// The seed as it is: both revisions are `manifest-gen/latest` to the
/// waypoint (Istio 1.22+). One row stands for both, with the success and
/// latency Prometheus has, and no share is claimed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_seeds_waypoint_names_both_revisions_alike_and_the_panel_says_so() {
    let (store, _controller) = seed_at_pause();
    let port = Prometheus::reserve_port();
    let d = Dashboard::start_observing(
        store.clone(),
        Scope::AllNamespaces,
        Options::default(),
        Some(settings(port)),
        |_| {},
    )
    .await;
    let _prometheus = Prometheus::start(port, d.addr);
    let seen = until_observed(&d, "one row for both revisions", |o| {
        o["revisions"].as_array().is_some_and(|r| {
            r.len() == 1
                && r[0]["requestsPerSecond"]
                    .as_f64()
                    .is_some_and(|v| (v - 100.0).abs() < 5.0)
        })
    })
    .await;
    let row = &seen["revisions"][0];
    assert_eq!(row["revision"], "2 and 1", "{seen:#}");
    assert_eq!(row["sharedWorkload"], "manifest-gen/latest");
    let success = row["successRate"].as_f64().unwrap_or(0.0);
    assert!((success - 0.998).abs() < 0.001, "{seen:#}");
    assert!(
        seen["warnings"][0]
            .as_str()
            .is_some_and(|w| w.contains("as one workload (manifest-gen/latest)")),
        "{seen:#}"
    );
    let html = page(&d).await;
    assert!(
        !html.contains("% of requests observed at the canary"),
        "no observed share on the traffic bar"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_canarys_observed_share_and_health_follow_it_through_prometheus() {
    let (store, controller) = seed_with_versions_at_pause();
    let port = Prometheus::reserve_port();
    let d = Dashboard::start_observing(
        store.clone(),
        Scope::AllNamespaces,
        Options::default(),
        Some(settings(port)),
        |_| {},
    )
    .await;

    // Before Prometheus runs, the panel says why it has nothing.
    let before = until_observed(&d, "Prometheus unreachable", |o| {
        o["error"]
            .as_str()
            .is_some_and(|e| e.contains("unreachable"))
    })
    .await;
    assert_eq!(before["source"], Prometheus::url(port));
    assert_eq!(before["windowSeconds"], 5);

    let mut prometheus = Prometheus::start(port, d.addr);

    // At the first pause the router sends 20% to the canary, and so does
    // the mesh: Prometheus sees it (at 100 requests/s, once the first
    // scrapes fill the window).
    let rate = |o: &Value, name: &str| {
        role(o, name)
            .and_then(|r| r["requestsPerSecond"].as_f64())
            .unwrap_or(0.0)
    };
    let at_20 = until_observed(&d, "the canary at about 20%", |o| {
        o["error"].is_null()
            && (share(o, "canary") - 0.2).abs() < 0.02
            && (rate(o, "canary") + rate(o, "stable") - 100.0).abs() < 5.0
    })
    .await;
    assert!((share(&at_20, "stable") - 0.8).abs() < 0.02, "{at_20:#}");
    let canary = role(&at_20, "canary").expect("a canary revision");
    assert_eq!(canary["revision"], "2");
    let rps = canary["requestsPerSecond"].as_f64().unwrap_or(0.0);
    assert!(
        (rps - 20.0).abs() < 2.0,
        "100 requests/s, 20% of them: {rps}"
    );
    let success = canary["successRate"].as_f64().unwrap_or(0.0);
    assert!((success - 0.998).abs() < 0.001, "healthy: {success}");
    let p50 = canary["latencyP50Ms"].as_f64().unwrap_or(0.0);
    assert!((25.0..=50.0).contains(&p50), "median near 35 ms: {p50}");
    let html = page(&d).await;
    let section = observed_section(&html);
    assert!(section.contains("Observed traffic"), "{section}");
    assert!(
        !section.contains("class=\"warn\""),
        "nothing to warn of: {section}"
    );
    assert!(
        html.contains("% of requests observed at the canary"),
        "the traffic bar marks the observed share"
    );

    // A promote: the router moves to 50%, the observed share follows, and
    // the page's live stream carries the new panel.
    let mut stream = d.watch(&format!("/stream{PAGE}"), true).await;
    let status = store
        .get(rt("rollouts"), "manifest-gen", "manifest-gen")
        .expect("the seed")["status"]
        .clone();
    let expect = json!({"expect": {"podTemplateHash": status["currentPodHash"], "stepIndex": status["currentStepIndex"]}});
    let (code, _, body) = d
        .send("PUT", &format!("{SEED}/promote"), &[], &expect.to_string())
        .await;
    assert_eq!(code, StatusCode::OK, "{body}");
    react(&store, &controller, 0);
    until_observed(&d, "the canary at about 50%", |o| {
        (share(o, "canary") - 0.5).abs() < 0.02
    })
    .await;
    stream
        .until("the panel at 50% on the live stream", |m| {
            m["id"] == "observed"
                && m["html"]
                    .as_str()
                    .is_some_and(|h| h.contains("50.0%") && h.contains("<td>50%</td>"))
        })
        .await;

    // The canary starts answering a third of its requests with 503: its
    // success rate drops below stable's and the page says so.
    set_traffic(&store, &[("canary-error-rate", "0.33")]);
    let failing = until_observed(&d, "the canary's success rate down", |o| {
        role(o, "canary")
            .and_then(|c| c["successRate"].as_f64())
            // Settled: the window holds only answers since the change.
            .is_some_and(|s| (s - 0.67).abs() < 0.0004)
    })
    .await;
    let stable = role(&failing, "stable").and_then(|s| s["successRate"].as_f64());
    assert!(stable.is_some_and(|s| s > 0.99), "{failing:#}");
    let html = page(&d).await;
    let section = observed_section(&html);
    assert!(
        section.contains("The canary answers 67.0% of requests successfully, stable 99.8%."),
        "{section}"
    );
    assert!(section.contains(r#"class="worse""#), "{section}");
    assert_eq!(
        failing["warnings"],
        json!(["The canary answers 67.0% of requests successfully, stable 99.8%."])
    );
    // The overview counts it among the rollouts that need a person.
    let attention = d
        .view
        .snapshot()
        .rollouts
        .get(&rollouts_dashboard::model::RolloutKey::new(
            "manifest-gen",
            "manifest-gen",
        ))
        .and_then(|e| e.summary.attention);
    assert_eq!(
        attention,
        Some(rollouts_dashboard::info::attention::Attention::CanaryFailing)
    );

    // Prometheus stops: the panel says so, and the rest of the page goes on.
    prometheus.stop();
    until_observed(&d, "Prometheus unreachable again", |o| {
        o["error"]
            .as_str()
            .is_some_and(|e| e.contains("unreachable"))
            && o["revisions"] == json!([])
    })
    .await;
    let (code, _, body) = d.send("PUT", &format!("{SEED}/abort"), &[], "").await;
    assert_eq!(code, StatusCode::OK, "{body}");
    react(&store, &controller, 0);
    d.until("the abort shown while Prometheus is away", |s| {
        s.rollouts
            .get(&rollouts_dashboard::model::RolloutKey::new(
                "manifest-gen",
                "manifest-gen",
            ))
            .is_some_and(|e| e.summary.status == "Degraded")
    })
    .await;
    let html = page(&d).await;
    assert!(html.contains("Degraded"), "the header follows the abort");
    assert!(
        observed_section(&html).contains("No observed traffic:"),
        "{}",
        observed_section(&html)
    );

    // It returns: the panel recovers, now with all requests at stable.
    prometheus.resume();
    let back = until_observed(&d, "Prometheus back, all traffic at stable", |o| {
        o["error"].is_null() && (share(o, "stable") - 1.0).abs() < 0.02
    })
    .await;
    assert!(back["updatedAt"].is_string());
}

/// Sets the simulated mesh's traffic annotations on the seed.
fn set_traffic(store: &rollouts_dashboard::sim::store::Store, pairs: &[(&str, &str)]) {
    patch_seed(store, |o| {
        for (k, v) in pairs {
            o["metadata"]["annotations"][format!("sim.rollouts-dashboard.io/{k}")] = json!(v);
        }
        Ok(())
    });
}

/// Asks `/comparison` until `ok`.
async fn until_compared(d: &Dashboard, what: &str, ok: impl Fn(&Value) -> bool) -> Value {
    until_answer(d, "/comparison", what, ok).await
}

fn metric<'a>(c: &'a Value, name: &str) -> &'a Value {
    c["metrics"]
        .as_array()
        .and_then(|m| m.iter().find(|m| m["name"] == name))
        .unwrap_or(&Value::Null)
}

/// Through a real Prometheus: a canary answering 3% 503 at 400 ms against
/// a clean stable at 40 ms fails on its success rate and latency, with the
/// reasons; equal revisions pass; a trickle of requests has no data. The
/// pods run sidecars here (the seed's ambient mode is the other tests'):
/// their series reach the verdict summed per ReplicaSet.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_canary_is_judged_against_stable_through_prometheus() {
    let (store, controller) = seed_at_pause_in(Dataplane::Sidecar);
    // Five replicas: stable keeps five pods beside the canary's one (Argo
    // scales a traffic-routed canary to its weight), so the pods' usage
    // has a spread to be judged against.
    patch_seed(&store, |o| {
        o["spec"]["replicas"] = json!(5);
        Ok(())
    });
    react(&store, &controller, 3);
    // 500 requests a second, 20% to the canary: 500 canary requests in the
    // 5 s window.
    set_traffic(
        &store,
        &[
            ("requests-per-second", "500"),
            ("canary-error-rate", "0.03"),
            ("canary-latency-ms", "400,900"),
            ("stable-error-rate", "0"),
            ("stable-latency-ms", "40,60"),
        ],
    );
    let port = Prometheus::reserve_port();
    let d = Dashboard::start_observing(
        store.clone(),
        Scope::AllNamespaces,
        Options::default(),
        Some(settings(port)),
        |_| {},
    )
    .await;
    let no_prometheus = until_compared(&d, "no verdict while Prometheus is away", |c| {
        c["verdict"] == "nodata"
    })
    .await;
    assert!(
        no_prometheus["reason"]
            .as_str()
            .is_some_and(|r| r.starts_with("no observed traffic")),
        "{no_prometheus:#}"
    );
    let _prometheus = Prometheus::start(port, d.addr);

    let failing = until_compared(&d, "the canary fails", |c| {
        c["verdict"] == "fail"
            && metric(c, "success-rate")["classification"] == "Low"
            && metric(c, "latency-p99")["classification"] == "High"
    })
    .await;
    assert_eq!(failing["confidence"], 0.98);
    assert_eq!(failing["windowSeconds"], 5);
    assert_eq!(
        (
            failing["canaryRevision"].as_str(),
            failing["stableRevision"].as_str()
        ),
        (Some("2"), Some("1"))
    );
    let success = metric(&failing, "success-rate");
    let canary = success["canary"].as_f64().unwrap_or(0.0);
    assert!((canary - 97.0).abs() < 0.5, "{success}");
    assert_eq!(success["stable"], 100.0, "{success}");
    let reason = success["reason"].as_str().unwrap_or_default();
    assert!(
        reason.starts_with("success 97.")
            && reason.contains("against 100.0% on stable, lower at 98% confidence over"),
        "{reason}"
    );
    let p50 = metric(&failing, "latency-p50");
    assert_eq!(p50["classification"], "High", "{p50}");
    assert!(
        p50["canary"].as_f64() > Some(200.0) && p50["stable"].as_f64() < Some(60.0),
        "{p50}"
    );
    let p99 = metric(&failing, "latency-p99");
    assert!(
        p99["reason"]
            .as_str()
            .is_some_and(|r| r.starts_with("p99 ") && r.contains("higher at 98% confidence")),
        "{p99}"
    );
    assert!(p99["samples"]["canary"].as_f64() >= Some(100.0), "{p99}");
    let html = page(&d).await;
    let section = observed_section(&html);
    assert!(section.contains("Canary against stable"), "{section}");
    assert!(section.contains("Fail: worse than stable"), "{section}");
    assert!(
        section.contains("The canary is worse than stable: p99 "),
        "{section}"
    );
    let attention = d
        .view
        .snapshot()
        .rollouts
        .get(&rollouts_dashboard::model::RolloutKey::new(
            "manifest-gen",
            "manifest-gen",
        ))
        .and_then(|e| e.summary.attention);
    assert_eq!(
        attention,
        Some(rollouts_dashboard::info::attention::Attention::CanaryFailing)
    );

    // The canary answers as stable does: it passes once the window holds
    // only the new answers.
    set_traffic(
        &store,
        &[("canary-error-rate", "0"), ("canary-latency-ms", "40,60")],
    );
    let passing = until_compared(&d, "equal revisions pass", |c| c["verdict"] == "pass").await;
    for m in passing["metrics"].as_array().expect("metrics") {
        assert_eq!(m["classification"], "Pass", "{m}");
    }

    // A trickle: 2 requests a second, 2 of them to the canary in 5 s.
    set_traffic(&store, &[("requests-per-second", "2")]);
    let trickle = until_compared(&d, "a trickle has no data", |c| c["verdict"] == "nodata").await;
    assert!(
        trickle["reason"].as_str().is_some_and(
            |r| r.contains("canary requests in the last 5 s; at least 100 are needed to judge")
        ),
        "{trickle:#}"
    );

    // The canary's pod now burns 400m CPU and crashes twice a second (the
    // sim's kubelet counts the restarts since the pod started): cAdvisor's
    // and kube-state-metrics' series judge it worse than stable's five
    // pods, a fail however few requests reach it.
    set_traffic(
        &store,
        &[
            ("canary-cpu-millicores", "400"),
            ("canary-restarts-per-hour", "7200"),
        ],
    );
    controller.reconcile_all();
    let crashing = until_compared(&d, "a crashing, CPU-hungry canary fails", |c| {
        // Once the 5 s window holds only the new usage.
        c["verdict"] == "fail"
            && metric(c, "cpu")["canary"].as_f64() > Some(0.36)
            && metric(c, "restarts")["classification"] == "High"
    })
    .await;
    let cpu = metric(&crashing, "cpu");
    assert_eq!(cpu["classification"], "High", "{cpu}");
    assert_eq!(cpu["unit"], "cores", "{cpu}");
    assert!(
        (cpu["canary"].as_f64().unwrap_or(0.0) - 0.4).abs() < 0.05,
        "{cpu}"
    );
    assert_eq!(
        cpu["samples"],
        json!({"canary": 1.0, "stable": 5.0}),
        "{cpu}"
    );
    let cpu_reason = cpu["reason"].as_str().unwrap_or_default();
    let millicores: f64 = cpu_reason
        .strip_prefix("CPU ")
        .and_then(|r| r.split_once("m per pod against "))
        .and_then(|(m, _)| m.parse().ok())
        .unwrap_or(0.0);
    assert!(
        (360.0..=440.0).contains(&millicores) // 400m ± the pod's 5%
            && cpu_reason.contains("m on stable, higher")
            && cpu_reason.ends_with("higher at 98% confidence over 1 canary pod and 5 stable pods"),
        "{cpu_reason}"
    );
    assert_eq!(metric(&crashing, "memory")["classification"], "Pass");
    let restarts = metric(&crashing, "restarts");
    assert!(restarts["canary"].as_f64() > Some(1.0), "{restarts}");
    assert_eq!(restarts["stable"], 0.0, "{restarts}");
    assert!(
        crashing["reason"]
            .as_str()
            .is_some_and(|r| r.contains("at least 100 are needed")),
        "the request metrics still lack data: {crashing:#}"
    );
    let html = page(&d).await;
    let section = observed_section(&html);
    assert!(
        section.contains("CPU per pod") && section.contains("Restarts"),
        "{section}"
    );
    assert!(section.contains("Fail: worse than stable"), "{section}");
}

/// `path`'s JSON on the dashboard at `addr`, if it answers 200.
fn json_at(addr: &str, path: &str) -> Option<Value> {
    let (status, body) = crate::http::get(addr, path)?;
    (status == 200).then(|| serde_json::from_str(&body).ok())?
}

/// Two clusters run the same release (the same pod template, so the same
/// ReplicaSet names) and report to one Prometheus that tells them apart by
/// a `cluster` label, as Thanos or Mimir do: with
/// `--prometheus-cluster-label`, each cluster's panel shows its own
/// traffic (b's canary failing, a's not), never the two summed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clusters_sharing_a_prometheus_each_see_their_own_traffic() {
    use rollouts_dashboard::cli::{AuthMode, LogFormat, WebArgs};
    use rollouts_dashboard::cluster::client::{ConfigSource, Connection, NamedConnection};
    let (a, _controller_a) = seed_with_versions_at_pause();
    let (b, _controller_b) = seed_with_versions_at_pause();
    set_traffic(&b, &[("canary-error-rate", "0.5")]);
    let shutdown = tokio_util::sync::CancellationToken::new();
    let mut sims = Vec::new();
    let mut clusters = Vec::new();
    for (store, name) in [(a, "a"), (b, "b")] {
        let sim = rollouts_dashboard::sim::apiserver::ApiServer::new(store, shutdown.clone());
        let (addr, _task) = sim
            .serve(std::net::SocketAddr::from(([127, 0, 0, 1], 0)))
            .await
            .expect("the sim listens");
        let mut config = kube::Config::new(format!("http://{addr}").parse().expect("a URL"));
        config.default_namespace = "default".to_string();
        clusters.push(NamedConnection {
            name: name.to_string(),
            connection: Connection {
                config,
                source: ConfigSource::Given(format!("cluster {name}")),
                scope: Scope::AllNamespaces,
            },
        });
        sims.push((sim, addr));
    }
    let port = Prometheus::reserve_port();
    let _prometheus = Prometheus::start_clusters(port, &[(sims[0].1, "a"), (sims[1].1, "b")]);
    let mut web = WebArgs {
        auth: AuthMode::None,
        log_format: LogFormat::Text,
        ..WebArgs::defaults()
    };
    web.history.history_db = Some("off".to_string());
    web.prometheus.prometheus_url = Some(Prometheus::url(port));
    web.prometheus.prometheus_window = Duration::from_secs(5);
    web.prometheus.prometheus_interval = Duration::from_secs(1);
    web.prometheus.prometheus_cluster_label = Some("cluster".to_string());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a port");
    let addr = listener.local_addr().expect("bound").to_string();
    let stop = shutdown.clone();
    tokio::spawn(async move {
        if let Err(e) =
            rollouts_dashboard::serve::run_clusters_on(listener, &clusters, &web, stop).await
        {
            panic!("the dashboard failed: {e}");
        }
    });
    // Each cluster's canary and stable: 100 requests a second in all.
    let settled = |o: &Value, success: f64| {
        let rate = |r: &str| {
            role(o, r)
                .and_then(|r| r["requestsPerSecond"].as_f64())
                .unwrap_or(0.0)
        };
        let canary_success = role(o, "canary")
            .and_then(|r| r["successRate"].as_f64())
            .unwrap_or(-1.0);
        o["error"].is_null()
            && (rate("canary") + rate("stable") - 100.0).abs() < 5.0
            && (canary_success - success).abs() < 0.05
    };
    let (at, seen) = (
        addr.clone(),
        std::sync::Arc::new(std::sync::Mutex::new(Vec::new())),
    );
    let last = seen.clone();
    let each_its_own = move || {
        let a = json_at(&at, &format!("{SEED}/observed")).unwrap_or(Value::Null);
        let b = json_at(
            &at,
            "/api/v1/clusters/b/rollouts/manifest-gen/manifest-gen/observed",
        )
        .unwrap_or(Value::Null);
        let ok = settled(&a, 1.0) && settled(&b, 0.5);
        if let Ok(mut l) = last.lock() {
            *l = vec![a, b];
        }
        ok
    };
    if tokio::time::timeout(
        PATIENCE,
        crate::teams::until("each cluster its own traffic", each_its_own),
    )
    .await
    .is_err()
    {
        panic!(
            "not within {PATIENCE:?}: {:#?}",
            seen.lock().map(|s| s.clone())
        );
    }
    shutdown.cancel();
}
