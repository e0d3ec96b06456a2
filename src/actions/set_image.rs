//! Set image, as `kubectl argo rollouts set image` does it: every container of that name (or all, for
//! `*`) among the init, regular and ephemeral containers of the pod template
//! gets the image; the whole object is then updated (PUT), so a concurrent
//! change is a 409, never lost.

use serde_json::{Value, json};

use super::plan::{PatchPlan, Refusal, Target};

/// `object` is the rollout, or (for `spec.workloadRef`) its Deployment, as
/// read from the API; `target` says which.
pub fn plan_set_image(
    object: &Value,
    target: Target,
    container: &str,
    image: &str,
) -> Result<PatchPlan, Refusal> {
    if image.trim().is_empty() {
        return Err(Refusal::Invalid("the image must not be empty".into()));
    }
    let mut object = object.clone();
    let mut found = false;
    if let Some(spec) = object.pointer_mut("/spec/template/spec") {
        for list in ["initContainers", "containers", "ephemeralContainers"] {
            for c in spec
                .get_mut(list)
                .and_then(Value::as_array_mut)
                .into_iter()
                .flatten()
            {
                if container == "*" || c.get("name").and_then(Value::as_str) == Some(container) {
                    c["image"] = json!(image);
                    found = true;
                }
            }
        }
    }
    if !found {
        return Err(Refusal::Invalid(format!(
            "unable to find container named \"{container}\""
        )));
    }
    Ok(PatchPlan::Update { target, object })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rollout() -> Value {
        json!({"metadata": {"name": "r", "resourceVersion": "7"},
               "spec": {"template": {"spec": {
                   "initContainers": [{"name": "init", "image": "init:1"}],
                   "containers": [{"name": "app", "image": "app:1"}, {"name": "side", "image": "side:1"}]}}}})
    }

    #[test]
    fn the_named_container_gets_the_image_and_the_whole_object_is_updated() {
        let Ok(PatchPlan::Update { target, object }) =
            plan_set_image(&rollout(), Target::Rollout, "app", "app:2")
        else {
            panic!("an update");
        };
        assert_eq!(target, Target::Rollout);
        let mut want = rollout();
        want["spec"]["template"]["spec"]["containers"][0]["image"] = json!("app:2");
        assert_eq!(
            object, want,
            "only that image changes; resourceVersion kept"
        );
    }

    #[test]
    fn a_star_sets_every_container_and_an_unknown_name_is_refused() {
        let Ok(PatchPlan::Update { object, .. }) =
            plan_set_image(&rollout(), Target::Rollout, "*", "all:9")
        else {
            panic!("an update");
        };
        let spec = &object["spec"]["template"]["spec"];
        assert_eq!(spec["initContainers"][0]["image"], "all:9");
        assert_eq!(spec["containers"][1]["image"], "all:9");
        assert_eq!(
            plan_set_image(&rollout(), Target::Rollout, "nope", "x:1"),
            Err(Refusal::Invalid(
                "unable to find container named \"nope\"".into()
            ))
        );
    }
}
