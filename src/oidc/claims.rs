//! PURE: an ID token's claims to a Kubernetes user, by kube-apiserver's
//! `--oidc-*` rules, so the same person is the same user (and the same
//! RoleBindings apply) here and at the API server.
//!
//! - The username is the `username_claim` (default `sub`). Unless a prefix
//!   is given, a claim other than `email` is prefixed with the issuer URL
//!   and `#` (`https://login.example.com#1234`); the prefix `-` means none.
//! - With the `email` claim, an `email_verified` claim that is present must
//!   be `true`.
//! - Groups come from `groups_claim` (a string or an array of strings),
//!   each with `groups_prefix`.
//! - Every required claim must be present as that exact string.

use serde_json::{Map, Value};

/// Users and groups with this prefix are Kubernetes' own
/// (`system:masters` may do anything, `system:serviceaccount:…` is a
/// ServiceAccount): no header or token may make a person one.
pub const KUBERNETES_RESERVED: &str = "system:";

/// How claims become a user: kube-apiserver's `--oidc-*` flags.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClaimMapping {
    pub issuer: String,
    pub username_claim: String,
    /// `None`: kube-apiserver's default (see the module's text).
    pub username_prefix: Option<String>,
    pub groups_claim: Option<String>,
    pub groups_prefix: String,
    pub required: Vec<(String, String)>,
}

/// Who the claims name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mapped {
    pub username: String,
    pub groups: Vec<String>,
    pub email: Option<String>,
}

impl ClaimMapping {
    /// The prefix put before the username claim's value.
    pub fn effective_username_prefix(&self) -> String {
        match self.username_prefix.as_deref() {
            Some("-") => String::new(),
            Some(p) => p.to_string(),
            None if self.username_claim == "email" => String::new(),
            None => format!("{}#", self.issuer),
        }
    }

    pub fn map(&self, claims: &Map<String, Value>) -> Result<Mapped, String> {
        for (key, want) in &self.required {
            match claims.get(key) {
                Some(Value::String(v)) if v == want => {}
                Some(Value::String(v)) => {
                    return Err(format!("the required claim {key} is {v:?}, not {want:?}"));
                }
                Some(_) => return Err(format!("the required claim {key} is not a string")),
                None => return Err(format!("the token lacks the required claim {key}")),
            }
        }
        let claim = &self.username_claim;
        let name = match claims.get(claim) {
            Some(Value::String(v)) if !v.is_empty() => v.clone(),
            Some(Value::String(_)) | None => {
                return Err(format!("the token has no {claim} claim to name the user"));
            }
            Some(_) => return Err(format!("the {claim} claim is not a string")),
        };
        if claim == "email" {
            match claims.get("email_verified") {
                None | Some(Value::Bool(true)) => {}
                Some(Value::Bool(false)) => {
                    return Err(format!("the email {name} is not verified"));
                }
                Some(_) => return Err("the email_verified claim is not a boolean".to_string()),
            }
        }
        let groups = match self.groups_claim.as_deref().and_then(|g| claims.get(g)) {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::String(g)) => vec![g.clone()],
            Some(Value::Array(items)) => {
                let mut groups = Vec::with_capacity(items.len());
                for item in items {
                    let Value::String(g) = item else {
                        return Err("the groups claim holds something other than strings".into());
                    };
                    if !groups.contains(g) {
                        groups.push(g.clone());
                    }
                }
                groups
            }
            Some(_) => return Err("the groups claim is neither a string nor a list".to_string()),
        };
        let username = format!("{}{name}", self.effective_username_prefix());
        let groups: Vec<String> = groups
            .into_iter()
            .map(|g| format!("{}{g}", self.groups_prefix))
            .collect();
        // Impersonating these would be the dashboard's own rights or more
        // (kube-apiserver's own OIDC authenticator refuses them too).
        if username.starts_with(KUBERNETES_RESERVED) {
            return Err(format!(
                "the token names the user {username}, a Kubernetes system identity (a ServiceAccount or a component); nobody signs in as one"
            ));
        }
        if let Some(g) = groups.iter().find(|g| g.starts_with(KUBERNETES_RESERVED)) {
            return Err(format!(
                "the token names the group {g}; groups starting with {KUBERNETES_RESERVED} are Kubernetes' own and never taken from a token"
            ));
        }
        Ok(Mapped {
            username,
            groups,
            email: claims
                .get("email")
                .and_then(Value::as_str)
                .map(str::to_string),
        })
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn mapping() -> ClaimMapping {
        ClaimMapping {
            issuer: "https://login.example.com".into(),
            username_claim: "sub".into(),
            username_prefix: None,
            groups_claim: Some("groups".into()),
            groups_prefix: String::new(),
            required: Vec::new(),
        }
    }

    fn claims(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn usernames_follow_kube_apiservers_prefix_rules() {
        let c = claims(json!({"sub": "1234", "email": "alice@example.com", "groups": ["team-a"]}));
        let m = mapping();
        assert_eq!(
            m.map(&c).unwrap().username,
            "https://login.example.com#1234"
        );
        let email = ClaimMapping {
            username_claim: "email".into(),
            ..mapping()
        };
        assert_eq!(email.map(&c).unwrap().username, "alice@example.com");
        let none = ClaimMapping {
            username_prefix: Some("-".into()),
            ..mapping()
        };
        assert_eq!(none.map(&c).unwrap().username, "1234");
        let oidc = ClaimMapping {
            username_claim: "email".into(),
            username_prefix: Some("oidc:".into()),
            groups_prefix: "oidc:".into(),
            ..mapping()
        };
        let mapped = oidc.map(&c).unwrap();
        assert_eq!(mapped.username, "oidc:alice@example.com");
        assert_eq!(mapped.groups, ["oidc:team-a"]);
    }

    #[test]
    fn an_unverified_email_names_nobody() {
        let email = ClaimMapping {
            username_claim: "email".into(),
            ..mapping()
        };
        let c = claims(json!({"sub": "1", "email": "a@example.com", "email_verified": false}));
        assert!(email.map(&c).is_err());
        let c = claims(json!({"sub": "1", "email": "a@example.com", "email_verified": true}));
        assert_eq!(email.map(&c).unwrap().username, "a@example.com");
    }

    #[test]
    fn groups_are_a_string_or_a_list_of_strings() {
        let m = mapping();
        let one = claims(json!({"sub": "1", "groups": "admins"}));
        assert_eq!(m.map(&one).unwrap().groups, ["admins"]);
        let none = claims(json!({"sub": "1"}));
        assert!(m.map(&none).unwrap().groups.is_empty());
        let dup = claims(json!({"sub": "1", "groups": ["a", "b", "a"]}));
        assert_eq!(m.map(&dup).unwrap().groups, ["a", "b"]);
        let bad = claims(json!({"sub": "1", "groups": ["a", 1]}));
        assert!(m.map(&bad).is_err());
        let bad = claims(json!({"sub": "1", "groups": {"a": 1}}));
        assert!(m.map(&bad).is_err());
        let no_claim = ClaimMapping {
            groups_claim: None,
            ..mapping()
        };
        assert!(no_claim.map(&one).unwrap().groups.is_empty());
    }

    #[test]
    fn required_claims_must_match_exactly() {
        let m = ClaimMapping {
            required: vec![("hd".into(), "example.com".into())],
            ..mapping()
        };
        assert!(
            m.map(&claims(json!({"sub": "1", "hd": "example.com"})))
                .is_ok()
        );
        assert!(
            m.map(&claims(json!({"sub": "1", "hd": "evil.com"})))
                .is_err()
        );
        assert!(m.map(&claims(json!({"sub": "1"}))).is_err());
        assert!(
            m.map(&claims(json!({"sub": "1", "hd": ["example.com"]})))
                .is_err()
        );
    }

    #[test]
    fn no_token_makes_anyone_a_system_user_or_group() {
        let m = ClaimMapping {
            username_claim: "email".into(),
            ..mapping()
        };
        for forged in [
            json!({"email": "eve@example.com", "groups": ["team-a", "system:masters"]}),
            json!({"email": "system:serviceaccount:rollouts-dashboard:rollouts-dashboard"}),
            json!({"email": "system:admin", "groups": []}),
            json!({"email": "eve@example.com", "groups": "system:nodes"}),
        ] {
            assert!(m.map(&claims(forged.clone())).is_err(), "{forged}");
        }
        // A prefix makes them ordinary names, as at kube-apiserver.
        let prefixed = ClaimMapping {
            username_prefix: Some("oidc:".into()),
            groups_prefix: "oidc:".into(),
            ..m
        };
        let ok = prefixed
            .map(&claims(
                json!({"email": "system:admin", "groups": ["system:masters"]}),
            ))
            .unwrap();
        assert_eq!(ok.username, "oidc:system:admin");
        assert_eq!(ok.groups, ["oidc:system:masters"]);
    }

    #[test]
    fn a_missing_or_empty_username_claim_is_refused() {
        let m = mapping();
        assert!(m.map(&claims(json!({"email": "a@b"}))).is_err());
        assert!(m.map(&claims(json!({"sub": ""}))).is_err());
        assert!(m.map(&claims(json!({"sub": 5}))).is_err());
    }
}
