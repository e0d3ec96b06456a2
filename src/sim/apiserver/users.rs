//! Who may call the simulated cluster: `sim --users FILE`, in the format of
//! kube-apiserver's `--token-auth-file` (one `token,user,uid,"group1,group2"`
//! per line). A user named `system:serviceaccount:NS:NAME` is a
//! ServiceAccount and gets its groups as a real cluster gives them.

use std::collections::HashMap;
use std::path::Path;

/// An authenticated caller, as `user.Info` in Kubernetes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UserInfo {
    pub name: String,
    pub uid: String,
    pub groups: Vec<String>,
}

impl UserInfo {
    /// A user with the groups every authenticated caller has added.
    pub fn authenticated(name: &str, uid: &str, groups: &[String]) -> Self {
        let mut all: Vec<String> = groups.to_vec();
        if let Some(rest) = name.strip_prefix("system:serviceaccount:")
            && let Some((ns, _)) = rest.split_once(':')
        {
            all.push("system:serviceaccounts".to_string());
            all.push(format!("system:serviceaccounts:{ns}"));
        }
        all.push("system:authenticated".to_string());
        all.dedup();
        UserInfo {
            name: name.to_string(),
            uid: uid.to_string(),
            groups: all,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum UsersError {
    #[error("cannot read the users file {path}: {source}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} line {line}: {why}")]
    Line {
        path: String,
        line: usize,
        why: String,
    },
}

/// Bearer tokens and whom they authenticate, in file order.
#[derive(Clone, Debug, Default)]
pub struct Users {
    by_token: HashMap<String, UserInfo>,
    /// (token, user) in file order, for the kubeconfig's contexts.
    pub ordered: Vec<(String, UserInfo)>,
}

impl Users {
    pub fn load(path: &Path) -> Result<Users, UsersError> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| UsersError::Read {
            path: shown.clone(),
            source,
        })?;
        Users::parse(&text).map_err(|(line, why)| UsersError::Line {
            path: shown,
            line,
            why,
        })
    }

    /// Parses the token file; an error names the 1-based line.
    pub fn parse(text: &str) -> Result<Users, (usize, String)> {
        let mut users = Users::default();
        for (i, raw) in text.lines().enumerate() {
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let fields = csv_fields(line).map_err(|why| (i + 1, why))?;
            let [token, name, uid, rest @ ..] = fields.as_slice() else {
                return Err((i + 1, "expected token,user,uid[,\"groups\"]".to_string()));
            };
            if token.is_empty() || name.is_empty() {
                return Err((
                    i + 1,
                    "the token and the user must not be empty".to_string(),
                ));
            }
            let groups: Vec<String> = rest
                .first()
                .map(|g| {
                    g.split(',')
                        .map(str::trim)
                        .filter(|g| !g.is_empty())
                        .map(str::to_string)
                        .collect()
                })
                .unwrap_or_default();
            let user = UserInfo::authenticated(name, uid, &groups);
            users.by_token.insert(token.clone(), user.clone());
            users.ordered.push((token.clone(), user));
        }
        Ok(users)
    }

    pub fn authenticate(&self, token: &str) -> Option<&UserInfo> {
        self.by_token.get(token)
    }
}

/// Splits one CSV line; a field may be double-quoted (and then hold commas).
fn csv_fields(line: &str) -> Result<Vec<String>, String> {
    let mut fields = Vec::new();
    let mut chars = line.chars().peekable();
    loop {
        let mut field = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            loop {
                match chars.next() {
                    Some('"') if chars.peek() == Some(&'"') => {
                        chars.next();
                        field.push('"');
                    }
                    Some('"') => break,
                    Some(c) => field.push(c),
                    None => return Err("a quoted field is not closed".to_string()),
                }
            }
            if !matches!(chars.peek(), None | Some(',')) {
                return Err("text after a quoted field".to_string());
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c == ',' {
                    break;
                }
                field.push(c);
                chars.next();
            }
        }
        fields.push(field.trim().to_string());
        if chars.next().is_none() {
            return Ok(fields);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_token_file_format() {
        let users = Users::parse(
            "# comment\nt-alice,alice,u1,\"team-a,devs\"\nt-bob,bob,u2\n\
             t-sa,system:serviceaccount:tools:dash,u3,\n",
        )
        .unwrap();
        let alice = users.authenticate("t-alice").unwrap();
        assert_eq!(alice.name, "alice");
        assert_eq!(
            alice.groups,
            ["team-a", "devs", "system:authenticated"].map(String::from)
        );
        assert_eq!(
            users.authenticate("t-bob").unwrap().groups,
            ["system:authenticated"]
        );
        assert_eq!(
            users.authenticate("t-sa").unwrap().groups,
            [
                "system:serviceaccounts",
                "system:serviceaccounts:tools",
                "system:authenticated"
            ]
        );
        assert!(users.authenticate("nope").is_none());
        assert_eq!(users.ordered.len(), 3);
    }

    #[test]
    fn bad_lines_are_named() {
        assert_eq!(Users::parse("ok,a,1\nonly-token\n").unwrap_err().0, 2);
        assert_eq!(Users::parse("t,a,1,\"open\n").unwrap_err().0, 1);
        assert_eq!(Users::parse(",a,1\n").unwrap_err().0, 1);
    }
}
