//! PURE: links out of a rollout and its revisions: from templates a
//! platform team gives (`--link 'Grafana=https://grafana.example/d/abc?var-namespace={namespace}&var-rollout={name}&var-revision={revision}'`)
//! and from the rollout's own annotations in Argo CD's convention
//! (`link.argocd.argoproj.io/<title>: <url>`). Only http and https links:
//! a tenant's annotation cannot put a `javascript:` link on a page others
//! open.

use super::types::RolloutInfo;

/// Argo CD's annotation prefix for a resource's external links.
const ANNOTATION_PREFIX: &str = "link.argocd.argoproj.io/";
/// A link's name, and an annotation's title, at most this long.
const NAME_CHARS: usize = 60;
/// A link at most this long.
const URL_CHARS: usize = 2048;

/// `NAME=URL` with `{namespace}`, `{name}`, `{revision}` and
/// `{podTemplateHash}` in the URL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LinkTemplate {
    pub name: String,
    pub url: String,
}

impl LinkTemplate {
    /// Whether it names a revision (then it is shown per revision).
    pub fn per_revision(&self) -> bool {
        self.url.contains("{revision}") || self.url.contains("{podTemplateHash}")
    }
}

/// One link as shown.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Link {
    pub name: String,
    pub href: String,
}

/// `NAME=URL`, checked.
pub fn parse_link(s: &str) -> Result<LinkTemplate, String> {
    let (name, url) = s
        .split_once('=')
        .ok_or_else(|| format!("{s:?} is not NAME=URL"))?;
    let (name, url) = (name.trim(), url.trim());
    if name.is_empty() || name.chars().count() > NAME_CHARS {
        return Err(format!(
            "a link's name must have 1 to {NAME_CHARS} characters: {name:?}"
        ));
    }
    if !is_web_url(url) {
        return Err(format!("a link must be an http or https URL: {url:?}"));
    }
    Ok(LinkTemplate {
        name: name.to_string(),
        url: url.to_string(),
    })
}

fn is_web_url(url: &str) -> bool {
    let lower = url.to_ascii_lowercase();
    (lower.starts_with("https://") || lower.starts_with("http://"))
        && url.len() <= URL_CHARS
        && !url.chars().any(|c| c.is_control() || c.is_whitespace())
}

/// `template` with the rollout's (and revision's) values, each encoded for
/// a URL.
fn fill(template: &str, info: &RolloutInfo, revision: i64, hash: &str) -> String {
    let enc = |v: &str| form_urlencoded::byte_serialize(v.as_bytes()).collect::<String>();
    template
        .replace("{namespace}", &enc(&info.object_meta.namespace))
        .replace("{name}", &enc(&info.object_meta.name))
        .replace("{revision}", &revision.to_string())
        .replace("{podTemplateHash}", &enc(hash))
}

/// The rollout's links: the templates that name no revision, and its
/// annotations' (by title).
pub fn rollout_links(templates: &[LinkTemplate], info: &RolloutInfo) -> Vec<Link> {
    let mut links: Vec<Link> = templates
        .iter()
        .filter(|t| !t.per_revision())
        .map(|t| Link {
            name: t.name.clone(),
            href: fill(&t.url, info, info.revision, &info.pod_hash),
        })
        .collect();
    for (key, url) in &info.object_meta.annotations {
        let Some(title) = key.strip_prefix(ANNOTATION_PREFIX) else {
            continue;
        };
        if title.is_empty() || title.chars().count() > NAME_CHARS || !is_web_url(url.trim()) {
            continue;
        }
        links.push(Link {
            name: title.to_string(),
            href: url.trim().to_string(),
        });
    }
    links
}

/// Revision `revision`'s links (pod template hash `hash`).
pub fn revision_links(
    templates: &[LinkTemplate],
    info: &RolloutInfo,
    revision: i64,
    hash: &str,
) -> Vec<Link> {
    templates
        .iter()
        .filter(|t| t.per_revision())
        .map(|t| Link {
            name: t.name.clone(),
            href: fill(&t.url, info, revision, hash),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info() -> RolloutInfo {
        let mut i = RolloutInfo::default();
        i.object_meta.name = "search".into();
        i.object_meta.namespace = "shop".into();
        i.revision = 2;
        i.object_meta.annotations.insert(
            "link.argocd.argoproj.io/Pull request".into(),
            "https://github.com/example/search/pull/42".into(),
        );
        i.object_meta.annotations.insert(
            "link.argocd.argoproj.io/Evil".into(),
            "javascript:alert(1)".into(),
        );
        i.object_meta
            .annotations
            .insert("team".into(), "https://not.a.link/".into());
        i
    }

    #[test]
    fn templates_fill_in_the_rollout_and_each_revision() {
        let grafana = parse_link(
            "Grafana=https://grafana.example/d/abc?var-namespace={namespace}&var-rollout={name}&var-revision={revision}",
        )
        .expect("a link");
        let logs = parse_link("Logs = https://logs.example/?q={namespace}/{name}").expect("a link");
        let templates = [grafana, logs];
        let i = info();
        assert_eq!(
            rollout_links(&templates, &i),
            [
                Link {
                    name: "Logs".into(),
                    href: "https://logs.example/?q=shop/search".into()
                },
                Link {
                    name: "Pull request".into(),
                    href: "https://github.com/example/search/pull/42".into()
                },
            ],
            "a javascript: annotation and other annotations are no links"
        );
        assert_eq!(
            revision_links(&templates, &i, 1, "abc123"),
            [Link {
                name: "Grafana".into(),
                href: "https://grafana.example/d/abc?var-namespace=shop&var-rollout=search&var-revision=1".into()
            }]
        );
    }

    #[test]
    fn only_named_web_links_are_accepted() {
        assert!(parse_link("Grafana").is_err());
        assert!(parse_link("=https://x.example/").is_err());
        assert!(parse_link("X=javascript:alert(1)").is_err());
        assert!(parse_link("X=https://x.example/a b").is_err());
        assert!(parse_link("X=HTTPS://x.example/").is_ok());
    }
}
