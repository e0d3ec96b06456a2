//! Rollback to a revision, as `kubectl argo rollouts undo` does it: the pod template of that
//! revision's ReplicaSet replaces the rollout's (or its workload's), by JSON
//! patch; nothing is sent when the template already matches.

use serde_json::{Value, json};

use crate::model::{POD_TEMPLATE_HASH_LABEL, REVISION_ANNOTATION};

use super::plan::{PatchPlan, Refusal, Target};

/// `rollout` as read from the API; `current_template` is the pod template in
/// force (the rollout's, or its workload's); `replica_sets` those of the
/// namespace (the ones the rollout controls are picked here);
/// `to_revision` 0 means the previous revision.
pub fn plan_rollback(
    rollout: &Value,
    current_template: &Value,
    replica_sets: &[Value],
    to_revision: i64,
) -> Result<PatchPlan, Refusal> {
    let name = rollout
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let uid = rollout
        .pointer("/metadata/uid")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let mut controlled: Vec<(i64, &Value)> = replica_sets
        .iter()
        .filter(|rs| controlled_by(rs, uid))
        .map(|rs| (revision(rs), rs))
        .collect();
    controlled.sort_by_key(|(revision, _)| std::cmp::Reverse(*revision));
    let (revision, rs) = if to_revision > 0 {
        controlled
            .iter()
            .find(|(r, _)| *r == to_revision)
            .copied()
            .ok_or_else(|| {
                Refusal::Invalid(format!(
                    "unable to find specified revision {to_revision} in history"
                ))
            })?
    } else {
        controlled
            .get(1)
            .copied()
            .ok_or_else(|| Refusal::Invalid(format!("no revision found for rollout \"{name}\"")))?
    };
    let target_template = without_hash_label(rs.pointer("/spec/template").unwrap_or(&Value::Null));
    if derives(&without_hash_label(current_template), &target_template) {
        return Ok(PatchPlan::Nothing {
            message: format!(
                "skipped rollback (current template already matches revision {revision})"
            ),
        });
    }
    let target = match rollout.pointer("/spec/workloadRef") {
        None | Some(Value::Null) => Target::Rollout,
        Some(w) => {
            let kind = w.get("kind").and_then(Value::as_str).unwrap_or_default();
            if !matches!(kind, "Deployment" | "ReplicaSet" | "PodTemplate") {
                return Err(Refusal::Invalid(format!(
                    "workload of type {kind} is not supported"
                )));
            }
            Target::Workload {
                kind: kind.to_string(),
                name: w
                    .get("name")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string(),
            }
        }
    };
    Ok(PatchPlan::JsonPatch {
        target,
        ops: json!([{"op": "replace", "path": "/spec/template", "value": target_template}]),
    })
}

fn controlled_by(rs: &Value, uid: &str) -> bool {
    !uid.is_empty()
        && rs
            .pointer("/metadata/ownerReferences")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .any(|o| o["uid"] == uid && o["controller"] == true)
}

fn revision(rs: &Value) -> i64 {
    rs.pointer("/metadata/annotations")
        .and_then(|a| a.get(REVISION_ANNOTATION))
        .and_then(Value::as_str)
        .and_then(|r| r.parse().ok())
        .unwrap_or(0)
}

fn without_hash_label(template: &Value) -> Value {
    let mut t = template.clone();
    if let Some(labels) = t
        .pointer_mut("/metadata/labels")
        .and_then(Value::as_object_mut)
    {
        labels.remove(POD_TEMPLATE_HASH_LABEL);
    }
    t
}

/// Kubernetes' semantic `DeepDerivative(a, b)`: `b` agrees with every field
/// set in `a`; fields unset in `a` (null, "", empty list or map) are ignored.
fn derives(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Null, _) => true,
        (Value::String(s), _) if s.is_empty() => true,
        (Value::Object(m), _) if m.is_empty() => true,
        (Value::Array(v), _) if v.is_empty() => true,
        (Value::Object(am), Value::Object(bm)) => am
            .iter()
            .all(|(k, av)| derives(av, bm.get(k).unwrap_or(&Value::Null))),
        (Value::Array(av), Value::Array(bv)) => {
            av.len() == bv.len() && av.iter().zip(bv).all(|(x, y)| derives(x, y))
        }
        _ => a == b,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn template(image: &str, hash: &str) -> Value {
        json!({"metadata": {"labels": {"app": "r", POD_TEMPLATE_HASH_LABEL: hash}},
               "spec": {"containers": [{"name": "app", "image": image}]}})
    }

    fn rs(revision: i64, image: &str, hash: &str, controller: bool) -> Value {
        json!({"metadata": {"name": format!("r-{hash}"),
                            "annotations": {REVISION_ANNOTATION: revision.to_string()},
                            "ownerReferences": [{"uid": "u1", "controller": controller}]},
               "spec": {"template": template(image, hash)}})
    }

    fn rollout(image: &str) -> Value {
        json!({"metadata": {"name": "r", "uid": "u1"},
               "spec": {"template": {"metadata": {"labels": {"app": "r"}},
                                     "spec": {"containers": [{"name": "app", "image": image}]}}}})
    }

    fn history() -> Vec<Value> {
        vec![
            rs(3, "app:3", "c", true),
            rs(1, "app:1", "a", true),
            rs(2, "app:2", "b", true),
            rs(9, "app:9", "z", false), // not controlled by the rollout
        ]
    }

    #[test]
    fn rolls_back_to_the_previous_revision_without_the_hash_label() {
        let ro = rollout("app:3");
        let got = plan_rollback(&ro, &ro["spec"]["template"], &history(), 0);
        let mut want = template("app:2", "b");
        want["metadata"]["labels"]
            .as_object_mut()
            .and_then(|l| l.remove(POD_TEMPLATE_HASH_LABEL));
        assert_eq!(
            got,
            Ok(PatchPlan::JsonPatch {
                target: Target::Rollout,
                ops: json!([{"op": "replace", "path": "/spec/template", "value": want}]),
            })
        );
    }

    #[test]
    fn a_named_revision_missing_or_already_in_force_sends_nothing() {
        let ro = rollout("app:3");
        let t = &ro["spec"]["template"];
        assert!(matches!(
            plan_rollback(&ro, t, &history(), 1),
            Ok(PatchPlan::JsonPatch { .. })
        ));
        assert_eq!(
            plan_rollback(&ro, t, &history(), 9),
            Err(Refusal::Invalid(
                "unable to find specified revision 9 in history".into()
            ))
        );
        assert_eq!(
            plan_rollback(&ro, t, &history(), 3),
            Ok(PatchPlan::Nothing {
                message: "skipped rollback (current template already matches revision 3)".into()
            })
        );
        assert_eq!(
            plan_rollback(&ro, t, &history()[..1], 0),
            Err(Refusal::Invalid(
                "no revision found for rollout \"r\"".into()
            ))
        );
    }

    #[test]
    fn a_workload_ref_rollout_patches_its_workload() {
        let mut ro = rollout("");
        ro["spec"]["template"] = Value::Null;
        ro["spec"]["workloadRef"] =
            json!({"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"});
        let current = template("app:3", "c");
        let Ok(PatchPlan::JsonPatch { target, .. }) = plan_rollback(&ro, &current, &history(), 0)
        else {
            panic!("a JSON patch");
        };
        assert_eq!(
            target,
            Target::Workload {
                kind: "Deployment".into(),
                name: "web".into()
            }
        );
        ro["spec"]["workloadRef"]["kind"] = json!("StatefulSet");
        assert_eq!(
            plan_rollback(&ro, &current, &history(), 0),
            Err(Refusal::Invalid(
                "workload of type StatefulSet is not supported".into()
            ))
        );
    }
}
