//! Malformed input never panics: every real fixture object is mutated at
//! every node (wrong types, nulls, removals), truncated, and emptied, then
//! fed through the model and `info/`. Each variant must give either an error
//! value (deserialisation) or a RolloutInfo that serialises.

use crate::common;

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::PathBuf;

use common::{Objects, fixture};
use rollouts_dashboard::model::parse_yaml_documents;
use serde_json::{Value, json};

/// Every fixture folder with objects the dashboard reads, as (folder, objects).
fn fixture_sets() -> Vec<(String, Vec<Value>)> {
    let mut sets = Vec::new();
    for dir in [
        "argo-info/canary",
        "argo-info/blue-green",
        "seed",
        "argo-examples",
    ] {
        let path = fixture(dir);
        let mut files: Vec<PathBuf> = std::fs::read_dir(&path)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
            .collect();
        files.sort();
        let mut objects = Vec::new();
        for f in files {
            objects.extend(parse_yaml_documents(&std::fs::read_to_string(f).unwrap()).unwrap());
        }
        sets.push((dir.to_string(), objects));
    }
    sets
}

/// The wrong-typed values every node is replaced with in turn.
fn replacements() -> Vec<Value> {
    vec![
        Value::Null,
        json!(true),
        json!(-1),
        json!(i64::MAX),
        json!("x"),
        json!([1, "a", null]),
        json!({"a": {"b": 1}}),
    ]
}

/// Every JSON pointer in `v`.
fn pointers(v: &Value, here: String, out: &mut Vec<String>) {
    out.push(here.clone());
    match v {
        Value::Object(m) => {
            for (k, child) in m {
                pointers(
                    child,
                    format!("{here}/{}", k.replace('~', "~0").replace('/', "~1")),
                    out,
                );
            }
        }
        Value::Array(a) => {
            for (i, child) in a.iter().enumerate() {
                pointers(child, format!("{here}/{i}"), out);
            }
        }
        _ => {}
    }
}

/// Adds each of `extra` to `base`, then computes every rollout's info. The
/// property: each object is either read or refused with an error that says
/// why, and every rollout then read gives a RolloutInfo that serialises
/// (with its name), whatever the others hold.
fn feed(what: &str, base: &Objects, extra: &[&Value]) {
    let mut set = base.clone();
    for v in extra {
        if let Err(e) = set.try_add(v) {
            assert!(
                !e.to_string().is_empty(),
                "{what}: refused without a reason"
            );
        }
    }
    for ro in &set.rollouts {
        let info = set.info_of(ro);
        let json = serde_json::to_value(&info)
            .unwrap_or_else(|e| panic!("{what}: RolloutInfo does not serialise: {e}"));
        assert!(json["objectMeta"].is_object(), "{what}: {json}");
        assert!(json["status"].is_string(), "{what}: no status in {json}");
    }
}

fn run_guarded(what: &str, base: &Objects, extra: &[&Value]) {
    if catch_unwind(AssertUnwindSafe(|| feed(what, base, extra))).is_err() {
        panic!("panicked on {what}");
    }
}

#[test]
fn every_node_of_every_fixture_survives_wrong_types_and_removal() {
    let mut variants = 0usize;
    for (dir, objects) in fixture_sets() {
        for (i, obj) in objects.iter().enumerate() {
            // The folder without this object; each variant adds it back mutated.
            let mut base = Objects::default();
            for (j, other) in objects.iter().enumerate() {
                if j != i {
                    base.add(other.clone());
                }
            }
            let mut ptrs = Vec::new();
            pointers(obj, String::new(), &mut ptrs);
            for ptr in ptrs
                .iter()
                .filter(|p| !p.is_empty() && p.as_str() != "/kind")
            {
                for replacement in replacements().into_iter().map(Some).chain([None]) {
                    let mut mutated = obj.clone();
                    match &replacement {
                        Some(r) => *mutated.pointer_mut(ptr).unwrap() = r.clone(),
                        None => remove(&mut mutated, ptr),
                    }
                    let what = format!("{dir} object {i} at {ptr} = {replacement:?}");
                    run_guarded(&what, &base, &[&mutated]);
                    variants += 1;
                }
            }
        }
    }
    // Every node of every fixture was tried (a guard against an empty run).
    assert!(variants > 5_000, "only {variants} variants");
}

fn remove(v: &mut Value, ptr: &str) {
    let (parent, last) = ptr.rsplit_once('/').unwrap();
    let key = last.replace("~1", "/").replace("~0", "~");
    match v.pointer_mut(parent) {
        Some(Value::Object(m)) => {
            m.remove(&key);
        }
        Some(Value::Array(a)) => {
            if let Ok(i) = key.parse::<usize>() {
                a.remove(i);
            }
        }
        _ => {}
    }
}

#[test]
fn truncated_documents_are_errors_not_panics() {
    for (dir, objects) in fixture_sets() {
        for obj in &objects {
            let text = serde_json::to_string(obj).unwrap();
            let step = (text.len() / 97).max(1);
            for cut in (0..text.len()).step_by(step) {
                let Some(prefix) = text.get(..cut) else {
                    continue;
                };
                // JSON: a truncated object never parses.
                assert!(
                    serde_json::from_str::<Value>(prefix).is_err() || prefix.is_empty() || cut == 0
                );
                // YAML: a truncated document parses or is refused, never panics.
                let yaml = serde_norway::to_string(obj).unwrap();
                let ycut = yaml
                    .char_indices()
                    .map(|(i, _)| i)
                    .find(|&i| i >= cut.min(yaml.len()))
                    .unwrap_or(yaml.len());
                let result = catch_unwind(|| parse_yaml_documents(&yaml[..ycut]));
                let docs = match result {
                    Ok(Ok(docs)) => docs,
                    Ok(Err(_)) => continue,
                    Err(_) => panic!("YAML parser panicked on {dir} cut at {ycut}"),
                };
                let docs: Vec<&Value> = docs.iter().collect();
                run_guarded(
                    &format!("{dir} truncated YAML at {ycut}"),
                    &Objects::default(),
                    &docs,
                );
            }
        }
    }
}

#[test]
fn empty_and_kind_only_objects_give_an_info() {
    let mut set = Objects::default();
    for kind in [
        "Rollout",
        "ReplicaSet",
        "Pod",
        "AnalysisRun",
        "Experiment",
        "VirtualService",
        "DestinationRule",
        "Deployment",
    ] {
        set.add(json!({"kind": kind}));
        set.add(json!({"kind": kind, "metadata": null, "spec": null, "status": null}));
        set.add(json!({"kind": kind, "metadata": {}, "spec": {}, "status": {}}));
    }
    assert_eq!(set.rollouts.len(), 3);
    for ro in &set.rollouts {
        let info = set.info_of(ro);
        assert_eq!(info.status, "Progressing");
        assert_eq!(info.message, "more replicas need to be updated");
        assert_eq!(info.desired, 1);
        assert_eq!(info.restarted_at, "Never");
    }
}
