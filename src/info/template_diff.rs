//! PURE: what changed between two revisions' pod templates, as a list of
//! `{path, from, to}` a person reads ("containers[api].image: api:2.1 →
//! api:2.0"): per container (by name) its image, command, args, env (a
//! value from a Secret or ConfigMap only by its name), envFrom, resources,
//! probes, ports and mounts; volumes (by name, what they mount); the
//! template's labels and annotations; and the pod's service account, node
//! selector and tolerations. And the sentence a rollback confirmation says.

use serde::Serialize;
use serde_json::Value;

/// Labels every revision has its own of: not a change a person made.
const IGNORED_LABELS: [&str; 1] = ["rollouts-pod-template-hash"];

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Change {
    pub path: String,
    /// `None`: not there before (added).
    pub from: Option<String>,
    /// `None`: not there after (removed).
    pub to: Option<String>,
}

/// The changes from pod template `from` to `to` (each a PodTemplateSpec:
/// `{metadata, spec}`).
pub fn diff(from: &Value, to: &Value) -> Vec<Change> {
    let mut out = Vec::new();
    for list in ["initContainers", "containers"] {
        let named = |t: &Value| -> Vec<(String, Value)> {
            t.pointer(&format!("/spec/{list}"))
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .map(|c| (text(c.get("name")), c.clone()))
                .collect()
        };
        let (a, b) = (named(from), named(to));
        for (name, before) in &a {
            let after = b.iter().find(|(n, _)| n == name).map(|(_, c)| c);
            let path = format!("{list}[{name}]");
            match after {
                None => out.push(Change {
                    path,
                    from: Some(text(before.get("image"))),
                    to: None,
                }),
                Some(after) => container(&mut out, &path, before, after),
            }
        }
        for (name, after) in &b {
            if !a.iter().any(|(n, _)| n == name) {
                out.push(Change {
                    path: format!("{list}[{name}]"),
                    from: None,
                    to: Some(text(after.get("image"))),
                });
            }
        }
    }
    keyed(
        &mut out,
        "volumes",
        &by_name(from, "/spec/volumes", volume),
        &by_name(to, "/spec/volumes", volume),
    );
    for (key, path) in [
        ("labels", "/metadata/labels"),
        ("annotations", "/metadata/annotations"),
    ] {
        let map = |t: &Value| -> Vec<(String, String)> {
            t.pointer(path)
                .and_then(Value::as_object)
                .into_iter()
                .flatten()
                .filter(|(k, _)| !IGNORED_LABELS.contains(&k.as_str()))
                .map(|(k, v)| (k.clone(), text(Some(v))))
                .collect()
        };
        keyed(&mut out, key, &map(from), &map(to));
    }
    for field in [
        "serviceAccountName",
        "nodeSelector",
        "tolerations",
        "affinity",
    ] {
        let pointer = format!("/spec/{field}");
        scalar(
            &mut out,
            field,
            from.pointer(&pointer),
            to.pointer(&pointer),
        );
    }
    out
}

/// One container's changes.
fn container(out: &mut Vec<Change>, path: &str, a: &Value, b: &Value) {
    for field in [
        "image",
        "command",
        "args",
        "resources",
        "livenessProbe",
        "readinessProbe",
        "startupProbe",
        "ports",
        "envFrom",
    ] {
        scalar(out, &format!("{path}.{field}"), a.get(field), b.get(field));
    }
    let env = |c: &Value| -> Vec<(String, String)> {
        c.get("env")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .map(|e| (text(e.get("name")), env_value(e)))
            .collect()
    };
    keyed(out, &format!("{path}.env"), &env(a), &env(b));
    let mounts = |c: &Value| -> Vec<(String, String)> {
        c.get("volumeMounts")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .map(|m| (text(m.get("name")), text(m.get("mountPath"))))
            .collect()
    };
    keyed(out, &format!("{path}.volumeMounts"), &mounts(a), &mounts(b));
}

/// An env var's value as shown: a literal as it is; from a Secret or a
/// ConfigMap only its name and key (never the value); a field or resource
/// reference by what it reads.
fn env_value(e: &Value) -> String {
    if let Some(v) = e.get("value") {
        return text(Some(v));
    }
    let from = e.get("valueFrom");
    let reference = |kind: &str, key: &str| {
        from.and_then(|f| f.get(key))
            .map(|r| format!("from {kind} {}/{}", text(r.get("name")), text(r.get("key"))))
    };
    reference("Secret", "secretKeyRef")
        .or_else(|| reference("ConfigMap", "configMapKeyRef"))
        .or_else(|| {
            from.and_then(|f| f.pointer("/fieldRef/fieldPath"))
                .map(|p| format!("from field {}", text(Some(p))))
        })
        .or_else(|| {
            from.and_then(|f| f.pointer("/resourceFieldRef/resource"))
                .map(|r| format!("from resource {}", text(Some(r))))
        })
        .unwrap_or_default()
}

/// A volume as shown: what it mounts, never its contents.
fn volume(v: &Value) -> String {
    let Some(obj) = v.as_object() else {
        return String::new();
    };
    obj.iter()
        .find(|(k, _)| k.as_str() != "name")
        .map(|(kind, body)| {
            let named = ["secretName", "name", "claimName"]
                .iter()
                .find_map(|k| body.get(*k).and_then(Value::as_str));
            match named {
                Some(n) => format!("{kind} {n}"),
                None => kind.clone(),
            }
        })
        .unwrap_or_default()
}

fn by_name(t: &Value, pointer: &str, shown: fn(&Value) -> String) -> Vec<(String, String)> {
    t.pointer(pointer)
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|v| (text(v.get("name")), shown(v)))
        .collect()
}

/// Changes between two keyed lists: `path[key]`.
fn keyed(out: &mut Vec<Change>, path: &str, a: &[(String, String)], b: &[(String, String)]) {
    for (k, va) in a {
        match b.iter().find(|(kb, _)| kb == k) {
            Some((_, vb)) if vb == va => {}
            Some((_, vb)) => out.push(Change {
                path: format!("{path}[{k}]"),
                from: Some(va.clone()),
                to: Some(vb.clone()),
            }),
            None => out.push(Change {
                path: format!("{path}[{k}]"),
                from: Some(va.clone()),
                to: None,
            }),
        }
    }
    for (k, vb) in b {
        if !a.iter().any(|(ka, _)| ka == k) {
            out.push(Change {
                path: format!("{path}[{k}]"),
                from: None,
                to: Some(vb.clone()),
            });
        }
    }
}

/// A change of one value (compared as JSON, shown compact).
fn scalar(out: &mut Vec<Change>, path: &str, a: Option<&Value>, b: Option<&Value>) {
    let (a, b) = (a.filter(|v| !v.is_null()), b.filter(|v| !v.is_null()));
    if a != b {
        out.push(Change {
            path: path.to_string(),
            from: a.map(|v| text(Some(v))),
            to: b.map(|v| text(Some(v))),
        });
    }
}

/// A string as it is; anything else as compact JSON.
fn text(v: Option<&Value>) -> String {
    match v {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Null) | None => String::new(),
        Some(v) => v.to_string(),
    }
}

/// `template` as the history keeps it: literal env values left out (a
/// digest of a short value would let anyone who reads the history confirm
/// a guess), so between revisions known only from the history an env var
/// shows as added or removed, not as changed in value.
pub fn for_history(template: &Value) -> Value {
    let mut t = template.clone();
    for list in ["initContainers", "containers"] {
        let Some(containers) = t
            .pointer_mut(&format!("/spec/{list}"))
            .and_then(Value::as_array_mut)
        else {
            continue;
        };
        for c in containers {
            let Some(env) = c.get_mut("env").and_then(Value::as_array_mut) else {
                continue;
            };
            for e in env {
                if let Some(v) = e.get_mut("value") {
                    *v = Value::String(VALUE_NOT_KEPT.to_string());
                }
            }
        }
    }
    t
}

/// What the history keeps of a literal env value.
pub const VALUE_NOT_KEPT: &str = "(value not kept)";

/// The changes in a sentence: "changes image api:2.1 → api:2.0 and removes
/// env FEATURE_X" (the first few; "and N more").
pub fn sentence(changes: &[Change]) -> String {
    const SHOWN: usize = 3;
    if changes.is_empty() {
        return "changes nothing in the pod template".to_string();
    }
    let words: Vec<String> = changes
        .iter()
        .take(SHOWN)
        .map(|c| {
            let what = short_path(&c.path);
            match (&c.from, &c.to) {
                (Some(a), Some(b)) => format!("changes {what} {a} → {b}"),
                (None, Some(b)) => format!("adds {what} {b}"),
                (Some(_), None) => format!("removes {what}"),
                (None, None) => format!("changes {what}"),
            }
        })
        .collect();
    let mut s = match words.len() {
        1 => words[0].clone(),
        n => format!("{} and {}", words[..n - 1].join(", "), words[n - 1]),
    };
    if changes.len() > SHOWN {
        s.push_str(&format!(" (and {} more)", changes.len() - SHOWN));
    }
    s
}

/// `containers[api].env[FEATURE_X]` → `env FEATURE_X`; `containers[api].image` → `image`.
fn short_path(path: &str) -> String {
    let last = path.rsplit('.').next().unwrap_or(path);
    match last.split_once('[') {
        Some((field, key)) => format!("{field} {}", key.trim_end_matches(']')),
        None => last.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn template(image: &str, env: Value, extra: Value) -> Value {
        let mut t = json!({"metadata": {"labels": {"app": "api", "rollouts-pod-template-hash": image}},
            "spec": {"containers": [{"name": "api", "image": image, "env": env,
                "resources": {"limits": {"memory": "256Mi"}}}]}});
        if let (Some(spec), Some(more)) = (t["spec"].as_object_mut(), extra.as_object()) {
            for (k, v) in more {
                spec.insert(k.clone(), v.clone());
            }
        }
        t
    }

    #[test]
    fn an_image_and_env_change_read_as_a_person_says_them() {
        let before = template(
            "api:2.1",
            json!([{"name": "FEATURE_X", "value": "on"},
                   {"name": "DB_PASSWORD", "valueFrom": {"secretKeyRef": {"name": "db", "key": "password"}}}]),
            json!({}),
        );
        let after = template(
            "api:2.0",
            json!([{"name": "DB_PASSWORD", "valueFrom": {"secretKeyRef": {"name": "db-v2", "key": "password"}}}]),
            json!({"serviceAccountName": "api"}),
        );
        let changes = diff(&before, &after);
        assert_eq!(
            changes,
            [
                Change {
                    path: "containers[api].image".into(),
                    from: Some("api:2.1".into()),
                    to: Some("api:2.0".into())
                },
                Change {
                    path: "containers[api].env[FEATURE_X]".into(),
                    from: Some("on".into()),
                    to: None
                },
                Change {
                    path: "containers[api].env[DB_PASSWORD]".into(),
                    from: Some("from Secret db/password".into()),
                    to: Some("from Secret db-v2/password".into())
                },
                Change {
                    path: "serviceAccountName".into(),
                    from: None,
                    to: Some("api".into())
                },
            ],
            "the pod-template-hash label is no change; a Secret's value never shows"
        );
        assert_eq!(
            sentence(&changes),
            "changes image api:2.1 → api:2.0, removes env FEATURE_X and changes env DB_PASSWORD from Secret db/password → from Secret db-v2/password (and 1 more)"
        );
        assert!(diff(&before, &before).is_empty());
        // As the history keeps them: no literal value.
        let kept = diff(&for_history(&before), &for_history(&after));
        assert_eq!(kept[1].path, "containers[api].env[FEATURE_X]");
        assert_eq!(kept[1].from.as_deref(), Some(VALUE_NOT_KEPT));
        assert_eq!(kept[0].to.as_deref(), Some("api:2.0"), "images as they are");
        assert_eq!(sentence(&[]), "changes nothing in the pod template");
    }

    #[test]
    fn containers_volumes_and_labels_added_and_removed() {
        let before = json!({"metadata": {"labels": {"app": "api"}},
            "spec": {"containers": [{"name": "api", "image": "api:1"}, {"name": "proxy", "image": "envoy:1"}],
                     "volumes": [{"name": "config", "configMap": {"name": "api-config"}}]}});
        let after = json!({"metadata": {"labels": {"app": "api", "version": "v2"}, "annotations": {"team": "a"}},
            "spec": {"containers": [{"name": "api", "image": "api:1", "args": ["--fast"]}],
                     "volumes": [{"name": "config", "configMap": {"name": "api-config-2"}}]}});
        let paths: Vec<(String, Option<String>, Option<String>)> = diff(&before, &after)
            .into_iter()
            .map(|c| (c.path, c.from, c.to))
            .collect();
        assert_eq!(
            paths,
            [
                (
                    "containers[api].args".into(),
                    None,
                    Some("[\"--fast\"]".into())
                ),
                ("containers[proxy]".into(), Some("envoy:1".into()), None),
                (
                    "volumes[config]".into(),
                    Some("configMap api-config".into()),
                    Some("configMap api-config-2".into())
                ),
                ("labels[version]".into(), None, Some("v2".into())),
                ("annotations[team]".into(), None, Some("a".into())),
            ]
        );
    }
}
