//! The canary steps that are neither weight, pause, analysis nor
//! experiment, as Argo's controller runs them:
//! - `setHeaderRoute` and `setMirrorRoute` on Istio
//!   (rollout/trafficrouting/istio/istio.go: SetHeaderRoute, SetMirrorRoute,
//!   orderRoutes; reference §7.7): the named route is removed, then added
//!   back when the step has a match, the managed routes first in
//!   `managedRoutes` order; all of them go once the rollout is promoted or
//!   aborted (RemoveManagedRoutes);
//! - a step `plugin`: no plugin runs here, so the simulated one reports
//!   Running for a few seconds, then Successful, in
//!   `status.canary.stepPluginStatuses` as Argo records a plugin's calls.

use jiff::{SignedDuration, Timestamp};
use serde_json::{Map, Value, json};

use super::{Controller, rfc3339, rt};
use crate::model::{CanaryStep, Rollout};
use crate::sim::json::text;
use crate::sim::store::{ApiError, Subresource};

/// How long the simulated step plugin runs.
const PLUGIN_RUNS_FOR: SignedDuration = SignedDuration::from_secs(5);

impl Controller {
    /// Runs a route or plugin step; whether it is done.
    pub(super) fn other_step(
        &self,
        ro: &Rollout,
        status: &mut Value,
        step: &CanaryStep,
        index: usize,
        now: Timestamp,
    ) -> Result<bool, ApiError> {
        if let Some(route) = &step.set_header_route {
            self.each_virtual_service(ro, |vs, routing| set_header_route(vs, routing, route))?;
            return Ok(true);
        }
        if let Some(route) = &step.set_mirror_route {
            self.each_virtual_service(ro, |vs, routing| set_mirror_route(vs, routing, route))?;
            return Ok(true);
        }
        if let Some(plugin) = &step.plugin {
            return Ok(run_plugin(status, plugin, index, now));
        }
        Ok(true)
    }

    /// Removes every managed route (a promoted or aborted rollout).
    pub(super) fn remove_managed_routes(&self, ro: &Rollout) -> Result<(), ApiError> {
        self.each_virtual_service(ro, |vs, routing| {
            let managed = managed_names(routing);
            if let Some(http) = vs.pointer_mut("/spec/http").and_then(Value::as_array_mut) {
                http.retain(|r| !managed.contains(&text(r, "/name")));
            }
        })
    }

    /// Applies `change` to each of the rollout's VirtualServices (with the
    /// rollout's `trafficRouting` as JSON), writing those that changed.
    fn each_virtual_service(
        &self,
        ro: &Rollout,
        change: impl Fn(&mut Value, &Value),
    ) -> Result<(), ApiError> {
        let Some(istio) = ro.traffic_routing().and_then(|t| t.istio.as_ref()) else {
            return Ok(());
        };
        let ns = ro.metadata.namespace.clone().unwrap_or_default();
        let name = ro.metadata.name.clone().unwrap_or_default();
        let mut routing = self
            .store
            .get(rt("rollouts"), &ns, &name)?
            .pointer("/spec/strategy/canary/trafficRouting")
            .cloned()
            .unwrap_or_else(|| json!({}));
        routing["_hosts"] = json!(self.route_hosts(ro, &ns));
        for r in istio.virtual_service_refs() {
            let (vs_ns, name) =
                super::traffic::virtual_service_key(r.name.as_deref().unwrap_or_default(), &ns);
            let Ok(vs) = self.store.get(rt("virtualservices"), &vs_ns, &name) else {
                continue;
            };
            let mut next = (*vs).clone();
            change(&mut next, &routing);
            order_routes(&mut next, &routing);
            if next != *vs {
                self.store.update(
                    rt("virtualservices"),
                    &vs_ns,
                    &name,
                    next,
                    Subresource::Main,
                )?;
            }
        }
        Ok(())
    }

    /// The canary's host and subset for a managed route: the
    /// DestinationRule's host with the canary subset, else the canary
    /// Service.
    fn route_hosts(&self, ro: &Rollout, ns: &str) -> Value {
        let istio = ro.traffic_routing().and_then(|t| t.istio.as_ref());
        let dr = istio.and_then(|i| i.destination_rule.as_ref());
        let dr_host = dr
            .and_then(|d| d.name.as_deref())
            .and_then(|n| self.store.get(rt("destinationrules"), ns, n).ok())
            .map(|d| text(&d, "/spec/host"))
            .filter(|h| !h.is_empty());
        let canary_service = ro
            .canary()
            .and_then(|c| c.canary_service.clone())
            .unwrap_or_default();
        json!({
            "host": dr_host.unwrap_or(canary_service),
            "subset": dr.and_then(|d| d.canary_subset_name.clone()).unwrap_or_default(),
        })
    }
}

fn managed_names(routing: &Value) -> Vec<String> {
    routing
        .get("managedRoutes")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|m| text(m, "/name"))
        .collect()
}

fn canary_destination(routing: &Value) -> Value {
    let mut destination = json!({"host": text(routing, "/_hosts/host")});
    let subset = text(routing, "/_hosts/subset");
    if !subset.is_empty() {
        destination["subset"] = json!(subset);
    }
    destination
}

/// `createHeaderRoute`: one header match per entry, all requests to the
/// canary.
fn set_header_route(vs: &mut Value, routing: &Value, step: &Value) {
    let name = text(step, "/name");
    let Some(http) = vs.pointer_mut("/spec/http").and_then(Value::as_array_mut) else {
        return;
    };
    http.retain(|r| text(r, "/name") != name);
    let Some(matches) = step.get("match").and_then(Value::as_array) else {
        return;
    };
    let matches: Vec<Value> = matches
        .iter()
        .map(|m| {
            let mut value = Map::new();
            for k in ["exact", "regex", "prefix"] {
                if let Some(v) = m
                    .pointer(&format!("/headerValue/{k}"))
                    .and_then(Value::as_str)
                    && !v.is_empty()
                {
                    value.insert(k.into(), json!(v));
                }
            }
            json!({"headers": {text(m, "/headerName"): value}})
        })
        .collect();
    http.push(json!({"name": name, "match": matches,
        "route": [{"destination": canary_destination(routing), "weight": 100}]}));
}

/// `createMirrorRoute`: the weighted route's destinations kept, the
/// matching requests mirrored to the canary.
fn set_mirror_route(vs: &mut Value, routing: &Value, step: &Value) {
    let name = text(step, "/name");
    let weighted: Vec<String> = routing
        .pointer("/istio/virtualService/routes")
        .or_else(|| routing.pointer("/istio/virtualServices/0/routes"))
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(str::to_string)
        .collect();
    let Some(http) = vs.pointer_mut("/spec/http").and_then(Value::as_array_mut) else {
        return;
    };
    http.retain(|r| text(r, "/name") != name);
    let Some(matches) = step.get("match").and_then(Value::as_array) else {
        return;
    };
    let route = http
        .iter()
        .find(|r| weighted.is_empty() || weighted.contains(&text(r, "/name")))
        .and_then(|r| r.get("route").cloned())
        .unwrap_or_else(|| json!([]));
    let matches: Vec<Value> = matches
        .iter()
        .map(|m| {
            let mut out = Map::new();
            for (from, to) in [
                ("method", "method"),
                ("path", "uri"),
                ("headers", "headers"),
            ] {
                if let Some(v) = m.get(from) {
                    out.insert(to.into(), v.clone());
                }
            }
            Value::Object(out)
        })
        .collect();
    let percentage = step
        .get("percentage")
        .and_then(Value::as_f64)
        .unwrap_or(100.0);
    http.insert(
        0,
        json!({"name": name, "match": matches, "route": route,
            "mirror": canary_destination(routing), "mirrorPercentage": {"value": percentage}}),
    );
}

/// `orderRoutes`: the managed routes first, in `managedRoutes` order.
fn order_routes(vs: &mut Value, routing: &Value) {
    let managed = managed_names(routing);
    if managed.is_empty() {
        return;
    }
    let Some(http) = vs.pointer_mut("/spec/http").and_then(Value::as_array_mut) else {
        return;
    };
    let (mut ours, rest): (Vec<Value>, Vec<Value>) = http
        .drain(..)
        .partition(|r| managed.contains(&text(r, "/name")));
    ours.sort_by_key(|r| managed.iter().position(|m| *m == text(r, "/name")));
    ours.extend(rest);
    *http = ours;
}

/// One call of the simulated step plugin: Running, then Successful.
fn run_plugin(status: &mut Value, plugin: &Value, index: usize, now: Timestamp) -> bool {
    let name = text(plugin, "/name");
    let mut statuses: Vec<Value> = status
        .pointer("/canary/stepPluginStatuses")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let position = statuses
        .iter()
        .position(|s| s["index"] == index && s["name"] == name.as_str() && s["operation"] == "Run");
    let entry = match position {
        Some(i) => &mut statuses[i],
        None => {
            statuses.push(json!({"index": index, "name": name, "operation": "Run",
                "phase": "Running", "message": "simulated plugin: checking",
                "startedAt": rfc3339(now), "updatedAt": rfc3339(now), "executions": 1}));
            let last = statuses.len() - 1;
            &mut statuses[last]
        }
    };
    let started = entry["startedAt"]
        .as_str()
        .and_then(|t| t.parse::<Timestamp>().ok());
    let finished = started
        .and_then(|s| s.checked_add(PLUGIN_RUNS_FOR).ok())
        .is_some_and(|end| now >= end);
    if entry["phase"] == "Running" && finished {
        entry["phase"] = json!("Successful");
        entry["message"] = json!("simulated plugin: all checks passed");
        entry["finishedAt"] = json!(rfc3339(now));
        entry["updatedAt"] = json!(rfc3339(now));
        entry["executions"] = json!(entry["executions"].as_i64().unwrap_or(1) + 1);
        entry["status"] = json!({"config": plugin.get("config").cloned().unwrap_or(Value::Null)});
    }
    let done = entry["phase"] == "Successful";
    status["canary"]["stepPluginStatuses"] = json!(statuses);
    done
}

#[cfg(test)]
mod tests {
    use super::*;

    fn routing() -> Value {
        json!({"managedRoutes": [{"name": "mirror"}, {"name": "header"}],
            "istio": {"virtualService": {"name": "vs", "routes": ["primary"]}},
            "_hosts": {"host": "web-canary", "subset": ""}})
    }

    fn vs() -> Value {
        json!({"spec": {"http": [{"name": "primary", "route": [
            {"destination": {"host": "web-stable"}, "weight": 80},
            {"destination": {"host": "web-canary"}, "weight": 20}]}]}})
    }

    /// Reference §7.7: a header route sends matching requests to the canary,
    /// a mirror route is prepended with the weighted destinations kept, and
    /// managed routes come first in managedRoutes order.
    #[test]
    fn header_and_mirror_routes_are_written_as_argo_writes_them() {
        let mut v = vs();
        set_header_route(
            &mut v,
            &routing(),
            &json!({"name": "header", "match": [{"headerName": "x-canary", "headerValue": {"exact": "yes"}}]}),
        );
        set_mirror_route(
            &mut v,
            &routing(),
            &json!({"name": "mirror", "percentage": 35, "match": [{"method": {"exact": "GET"}, "path": {"prefix": "/"}}]}),
        );
        order_routes(&mut v, &routing());
        let http = v["spec"]["http"].as_array().expect("routes");
        let names: Vec<&str> = http.iter().filter_map(|r| r["name"].as_str()).collect();
        assert_eq!(names, ["mirror", "header", "primary"]);
        assert_eq!(
            http[1]["match"],
            json!([{"headers": {"x-canary": {"exact": "yes"}}}])
        );
        assert_eq!(
            http[1]["route"],
            json!([{"destination": {"host": "web-canary"}, "weight": 100}])
        );
        assert_eq!(http[0]["mirror"], json!({"host": "web-canary"}));
        assert_eq!(http[0]["mirrorPercentage"], json!({"value": 35.0}));
        assert_eq!(http[0]["route"], vs()["spec"]["http"][0]["route"]);
        assert_eq!(
            http[0]["match"],
            json!([{"method": {"exact": "GET"}, "uri": {"prefix": "/"}}])
        );
        // No match: the route goes.
        set_header_route(&mut v, &routing(), &json!({"name": "header"}));
        assert_eq!(v["spec"]["http"].as_array().map(Vec::len), Some(2));
    }

    #[test]
    fn the_simulated_plugin_runs_then_succeeds() {
        let t0: Timestamp = "2024-05-01T12:00:00Z".parse().expect("a time");
        let mut status = json!({});
        let plugin = json!({"name": "argoproj-labs/sample", "config": {"check": "smoke"}});
        assert!(!run_plugin(&mut status, &plugin, 2, t0));
        assert_eq!(
            status["canary"]["stepPluginStatuses"][0]["phase"],
            "Running"
        );
        let later = t0.checked_add(SignedDuration::from_secs(6)).expect("later");
        assert!(run_plugin(&mut status, &plugin, 2, later));
        let entry = &status["canary"]["stepPluginStatuses"][0];
        assert_eq!(
            (entry["phase"].as_str(), entry["index"].as_i64()),
            (Some("Successful"), Some(2))
        );
        assert_eq!(entry["status"]["config"]["check"], "smoke");
    }
}
