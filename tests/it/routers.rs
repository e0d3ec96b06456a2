//! The split as each router has it, read from the router's own objects:
//! the shared examples (tests/fixtures/routers/) plus what Argo's
//! controller and the Gateway API plugin write into them
//! (traffic-routers.md R1–R3). An object whose weight differs from the
//! desired weight shows the object's numbers and `matchesDesired: false`;
//! a missing object is `found: false`, with a warning, not an error.

use crate::common;

use common::{Objects, fixture};
use rollouts_dashboard::info::RolloutInfo;
use rollouts_dashboard::model::parse_yaml_documents;
use serde_json::{Value, json};

/// Every object of a fixture folder, in namespace `default` when the
/// example leaves it out (as `kubectl apply` would put it).
fn load(dir: &str) -> Objects {
    let mut objects = Objects::default();
    let mut files: Vec<_> = std::fs::read_dir(fixture(dir))
        .unwrap_or_else(|e| panic!("{dir}: {e}"))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    files.sort();
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap_or_default();
        for mut doc in parse_yaml_documents(&text).unwrap_or_else(|e| panic!("{file:?}: {e}")) {
            if doc.pointer("/metadata/namespace").is_none()
                && let Some(meta) = doc.get_mut("metadata").and_then(Value::as_object_mut)
            {
                meta.insert("namespace".into(), json!("default"));
            }
            objects.add(doc);
        }
    }
    objects
}

/// The rollout `name` (its spec from `file`) at step `step` of its canary,
/// the canary ReplicaSet available, as the controller leaves it.
fn at_step(objects: &mut Objects, name: &str, file: &str, step: i32) {
    let v: Value = json!({
        "metadata": {"name": name, "namespace": "default", "uid": format!("uid-{name}")},
        "spec": spec_of(name, file),
        "status": {"currentStepIndex": step, "currentPodHash": "new", "stableRS": "old",
                   "canary": {}},
    });
    objects
        .rollouts
        .retain(|r| r.metadata.name.as_deref() != Some(name));
    objects
        .rollouts
        .push(serde_json::from_value(v).unwrap_or_else(|e| panic!("{e}")));
    objects.add(json!({
        "apiVersion": "apps/v1", "kind": "ReplicaSet",
        "metadata": {"name": format!("{name}-new"), "namespace": "default", "uid": format!("rs-{name}"),
            "labels": {"rollouts-pod-template-hash": "new"},
            "ownerReferences": [{"apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout", "name": name,
                "uid": format!("uid-{name}"), "controller": true}]},
        "spec": {"replicas": 1},
        "status": {"replicas": 1, "availableReplicas": 1, "readyReplicas": 1},
    }));
}

/// The spec of rollout `name` in a fixture file, as JSON (the model reads
/// objects but does not write them back).
fn spec_of(name: &str, file: &str) -> Value {
    let text = std::fs::read_to_string(fixture(file)).unwrap_or_default();
    parse_yaml_documents(&text)
        .unwrap_or_default()
        .into_iter()
        .find(|doc| doc["kind"] == "Rollout" && doc["metadata"]["name"] == name)
        .map(|doc| doc["spec"].clone())
        .unwrap_or_else(|| panic!("no rollout {name} in {file}"))
}

fn traffic(info: &RolloutInfo) -> Value {
    serde_json::to_value(&info.traffic).unwrap_or(Value::Null)
}

/// The canary Ingress Argo's controller writes for NGINX at `weight`.
fn nginx_canary(name: &str, weight: i32, extra: Value) -> Value {
    let mut annotations = json!({
        "nginx.ingress.kubernetes.io/canary": "true",
        "nginx.ingress.kubernetes.io/canary-weight": weight.to_string(),
    });
    if let (Some(a), Some(more)) = (annotations.as_object_mut(), extra.as_object()) {
        a.extend(more.clone());
    }
    json!({
        "apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
        "metadata": {"name": name, "namespace": "default", "annotations": annotations},
        "spec": {"rules": [{"host": "rollouts-demo.local", "http": {"paths": [{"path": "/", "pathType": "Prefix",
            "backend": {"service": {"name": "rollouts-demo-canary", "port": {"number": 80}}}}]}}]},
    })
}

#[test]
fn nginx_the_split_is_the_canary_ingress_weight() {
    let mut objects = load("routers/nginx");
    at_step(
        &mut objects,
        "rollouts-demo",
        "routers/nginx/rollout.yaml",
        0,
    );

    // Before the controller made the canary Ingress: found false, a warning.
    let t = traffic(&objects.info("default", "rollouts-demo"));
    assert_eq!(
        t.get("router"),
        None,
        "nothing found to read the split from"
    );
    assert_eq!(t["desiredCanaryWeight"], 5);
    assert_eq!(t["matchesDesired"], false);
    let canary = &t["routerObjects"][0];
    assert_eq!(
        (&canary["kind"], &canary["name"], &canary["found"]),
        (
            &json!("Ingress"),
            &json!("rollouts-demo-rollouts-demo-stable-canary"),
            &json!(false)
        )
    );
    assert!(
        canary["error"]
            .as_str()
            .is_some_and(|e| e.contains("not there"))
    );

    // The controller's canary Ingress, still at 0 while the desired is 5.
    objects.add(nginx_canary(
        "rollouts-demo-rollouts-demo-stable-canary",
        0,
        json!({"nginx.ingress.kubernetes.io/canary-by-header": "X-Canary",
               "nginx.ingress.kubernetes.io/canary-by-header-value": "yes"}),
    ));
    let t = traffic(&objects.info("default", "rollouts-demo"));
    assert_eq!(t["router"], "nginx");
    assert_eq!(
        (&t["canaryWeight"], &t["stableWeight"]),
        (&json!(0), &json!(100))
    );
    assert_eq!(
        t["matchesDesired"], false,
        "the object's numbers, not the desired"
    );
    let o = &t["routerObjects"][0];
    assert_eq!(o["found"], true);
    assert_eq!(
        o["rules"][0]["destinations"][1]["host"],
        "rollouts-demo-canary"
    );
    assert_eq!(o["headerRoutes"], json!(["header X-Canary: yes → canary"]));

    // At the desired weight.
    objects.ingresses.retain(|i| {
        !i.metadata
            .name
            .as_deref()
            .unwrap_or_default()
            .ends_with("-canary")
    });
    objects.add(nginx_canary(
        "rollouts-demo-rollouts-demo-stable-canary",
        5,
        json!({}),
    ));
    let t = traffic(&objects.info("default", "rollouts-demo"));
    assert_eq!(
        (&t["canaryWeight"], &t["matchesDesired"]),
        (&json!(5), &json!(true))
    );
}

#[test]
fn alb_the_split_is_the_forward_actions_target_group_weights() {
    let mut objects = load("routers/alb");
    at_step(&mut objects, "rollouts-demo", "routers/alb/rollout.yaml", 0);
    let t = traffic(&objects.info("default", "rollouts-demo"));
    assert_eq!(t["routerObjects"][0]["found"], true, "the Ingress is there");
    assert!(
        t["routerObjects"][0]["error"]
            .as_str()
            .is_some_and(|e| e.contains("alb.ingress.kubernetes.io/actions.rollouts-demo-root")),
        "{t:#}"
    );
    assert_eq!(t["matchesDesired"], false);

    // What the controller writes: canary first, then stable.
    let ingress = objects
        .ingresses
        .iter_mut()
        .find(|i| i.metadata.name.as_deref() == Some("rollouts-demo-ingress"))
        .expect("the fixture's Ingress");
    ingress.metadata.annotations.get_or_insert_default().insert(
        "alb.ingress.kubernetes.io/actions.rollouts-demo-root".into(),
        r#"{"Type":"forward","ForwardConfig":{"TargetGroups":[{"ServiceName":"rollouts-demo-canary","ServicePort":"80","Weight":5},{"ServiceName":"rollouts-demo-stable","ServicePort":"80","Weight":95}]}}"#.into(),
    );
    let t = traffic(&objects.info("default", "rollouts-demo"));
    assert_eq!(t["router"], "alb");
    assert_eq!(
        (&t["canaryWeight"], &t["stableWeight"]),
        (&json!(5), &json!(95))
    );
    assert_eq!(t["matchesDesired"], true);
    let roles: Vec<&Value> = t["routerObjects"][0]["rules"][0]["destinations"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|d| &d["role"])
        .collect();
    assert_eq!(roles, [&json!("canary"), &json!("stable")]);
}

#[test]
fn gateway_api_the_split_is_each_rules_backend_weights() {
    let mut objects = load("routers/gateway-api");
    at_step(
        &mut objects,
        "rollouts-demo",
        "routers/gateway-api/envoygateway-rollout.yaml",
        0,
    );
    // Only the Envoy Gateway route: the header-based example reuses its name.
    objects
        .routes
        .retain(|r| r.rules().first().is_some_and(|rule| rule.matches.is_some()));
    // As the example has it: no weights yet (each backendRef weighs 1).
    let t = traffic(&objects.info("default", "rollouts-demo"));
    assert_eq!(t["router"], "gatewayAPI");
    assert_eq!(t["desiredCanaryWeight"], 30);
    assert_eq!(
        (&t["canaryWeight"], &t["stableWeight"]),
        (&json!(1), &json!(1))
    );
    assert_eq!(t["matchesDesired"], false);
    let route = &t["routerObjects"][0];
    assert_eq!(
        (&route["kind"], &route["name"]),
        (&json!("HTTPRoute"), &json!("argo-rollouts-http-route"))
    );

    // What the plugin writes.
    for b in objects.routes[0]
        .spec
        .iter_mut()
        .flat_map(|s| s.rules.iter_mut().flatten())
        .flat_map(|r| r.backend_refs.iter_mut().flatten())
    {
        b.weight = Some(
            if b.name.as_deref() == Some("argo-rollouts-canary-service") {
                30
            } else {
                70
            },
        );
    }
    let t = traffic(&objects.info("default", "rollouts-demo"));
    assert_eq!(
        (&t["canaryWeight"], &t["stableWeight"], &t["matchesDesired"]),
        (&json!(30), &json!(70), &json!(true))
    );

    // A route the configuration names that is not there.
    objects.routes.clear();
    let t = traffic(&objects.info("default", "rollouts-demo"));
    assert_eq!(t["routerObjects"][0]["found"], false);
    assert_eq!(t["matchesDesired"], false);
}

#[test]
fn gateway_api_header_routes_the_plugin_injected_are_shown_apart() {
    let mut objects = load("routers/gateway-api");
    at_step(
        &mut objects,
        "rollouts-demo",
        "routers/gateway-api/header-based-rollout.yaml",
        0,
    );
    objects
        .routes
        .retain(|r| r.rules().first().is_some_and(|rule| rule.matches.is_none()));
    // The plugin's rule for the managed route `argo-rollouts`.
    let mut route: Value = json!({
        "apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
        "metadata": {"name": "argo-rollouts-http-route", "namespace": "default"},
        "spec": {"rules": [
            {"backendRefs": [{"name": "argo-rollouts-stable-service", "port": 80, "weight": 100},
                             {"name": "argo-rollouts-canary-service", "port": 80, "weight": 0}]},
            {"name": "argo-rollouts", "matches": [{"headers": [{"name": "X-Test", "value": "test"}]}],
             "backendRefs": [{"name": "argo-rollouts-canary-service", "port": 80}]},
        ]},
    });
    objects.routes.clear();
    objects.add(route.take());
    let t = traffic(&objects.info("default", "rollouts-demo"));
    let o = &t["routerObjects"][0];
    assert_eq!(
        o["rules"].as_array().map(Vec::len),
        Some(1),
        "the header rule is not a weight rule"
    );
    assert_eq!(
        o["headerRoutes"],
        json!(["argo-rollouts: header X-Test: test → canary"])
    );
}

#[test]
fn several_routers_on_one_rollout_are_all_listed() {
    let mut objects = load("routers/nginx");
    at_step(
        &mut objects,
        "rollouts-demo",
        "routers/nginx/rollout.yaml",
        0,
    );
    // The same rollout also routed by the Gateway API plugin.
    let mut v = json!({
        "metadata": {"name": "rollouts-demo", "namespace": "default", "uid": "uid-rollouts-demo"},
        "spec": spec_of("rollouts-demo", "routers/nginx/rollout.yaml"),
        "status": {"currentStepIndex": 0, "currentPodHash": "new", "stableRS": "old", "canary": {}},
    });
    v["spec"]["strategy"]["canary"]["trafficRouting"]["plugins"] =
        json!({"argoproj-labs/gatewayAPI": {"httpRoute": "web"}});
    objects.rollouts = vec![serde_json::from_value(v).unwrap_or_else(|e| panic!("{e}"))];
    objects.add(json!({
        "apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
        "metadata": {"name": "web", "namespace": "default"},
        "spec": {"rules": [{"backendRefs": [{"name": "rollouts-demo-stable", "weight": 95},
                                            {"name": "rollouts-demo-canary", "weight": 5}]}]},
    }));
    let t = traffic(&objects.info("default", "rollouts-demo"));
    assert_eq!(t["routers"], json!(["nginx", "gatewayAPI"]));
    assert_eq!(
        t["router"], "gatewayAPI",
        "the first whose object was found"
    );
    assert_eq!(t["canaryWeight"], 5);
    assert_eq!(
        t["matchesDesired"], false,
        "the NGINX canary Ingress is missing"
    );
    let kinds: Vec<(&Value, &Value)> = t["routerObjects"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|o| (&o["router"], &o["found"]))
        .collect();
    assert_eq!(
        kinds,
        [
            (&json!("nginx"), &json!(false)),
            (&json!("gatewayAPI"), &json!(true))
        ]
    );
}
