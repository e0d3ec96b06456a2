//! TokenReview, SubjectAccessReview and SelfSubjectAccessReview: answered
//! from the users file and the RBAC objects, never stored.

use serde_json::{Value, json};

use super::rbac::{Attributes, authorize};
use super::users::{UserInfo, Users};
use crate::sim::store::Store;

/// The kinds answered here.
/// The review kinds the server answers on `create` instead of storing.
pub const KINDS: [&str; 3] = [
    "TokenReview",
    "SubjectAccessReview",
    "SelfSubjectAccessReview",
];

/// The answer to a `create` of one of the review kinds, or `None` when
/// `kind` is not one. `caller` is who asks (`None` without `--users`).
pub fn answer(
    kind: &str,
    body: &Value,
    store: &Store,
    users: Option<&Users>,
    caller: Option<&UserInfo>,
) -> Option<Value> {
    let spec = body.get("spec").cloned().unwrap_or_else(|| json!({}));
    let status = match kind {
        "TokenReview" => {
            let token = spec
                .get("token")
                .and_then(Value::as_str)
                .unwrap_or_default();
            match users.and_then(|u| u.authenticate(token)) {
                Some(user) => json!({"authenticated": true, "user": {
                    "username": user.name, "uid": user.uid, "groups": user.groups}}),
                None => json!({"authenticated": false, "error": "invalid bearer token"}),
            }
        }
        "SubjectAccessReview" => {
            let groups: Vec<String> = spec
                .get("groups")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(Value::as_str)
                        .map(String::from)
                        .collect()
                })
                .unwrap_or_default();
            let user = UserInfo {
                name: spec
                    .get("user")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string(),
                uid: String::new(),
                groups,
            };
            decide(store, users.is_some(), &user, &spec)
        }
        "SelfSubjectAccessReview" => {
            let anyone = UserInfo::default();
            decide(store, users.is_some(), caller.unwrap_or(&anyone), &spec)
        }
        _ => return None,
    };
    let mut answered = body.clone();
    answered["status"] = status;
    Some(answered)
}

/// `status` of an access review; without `--users` everything is allowed.
fn decide(store: &Store, enforced: bool, user: &UserInfo, spec: &Value) -> Value {
    let Some(ra) = spec.get("resourceAttributes") else {
        return json!({"allowed": false, "reason": "only resourceAttributes are reviewed here"});
    };
    let text = |k: &str| ra.get(k).and_then(Value::as_str).unwrap_or_default();
    let attrs = Attributes {
        verb: text("verb").to_string(),
        group: text("group").to_string(),
        resource: text("resource").to_string(),
        subresource: text("subresource").to_string(),
        namespace: Some(text("namespace"))
            .filter(|n| !n.is_empty())
            .map(String::from),
        name: Some(text("name"))
            .filter(|n| !n.is_empty())
            .map(String::from),
    };
    if !enforced {
        return json!({"allowed": true, "reason": "the simulated cluster authorizes everything"});
    }
    match authorize(store, user, &attrs) {
        Ok(reason) => json!({"allowed": true, "reason": reason}),
        Err(_) => json!({"allowed": false}),
    }
}
