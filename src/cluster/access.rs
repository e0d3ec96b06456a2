//! Who a person is to Kubernetes and what RBAC lets them do: TokenReview for
//! a bearer token, SubjectAccessReview for a user and namespace (cached a
//! minute, refreshed in the background), and a client that acts as the
//! person (impersonation, or their own token). The API server's RBAC is the
//! only source of truth; nothing here grants anything.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use k8s_openapi::api::authentication::v1::{TokenReview, TokenReviewSpec};
use k8s_openapi::api::authorization::v1::{
    ResourceAttributes, SubjectAccessReview, SubjectAccessReviewSpec,
};
use kube::Client;
use kube::api::{Api, PostParams};
use tokio_util::sync::CancellationToken;

use super::client::ClientError;

/// Every review gives up after this long (and the answer is "no").
const REVIEW_TIMEOUT: Duration = Duration::from_secs(5);
/// How long an answer is used before it is asked again (in the background).
const FRESH_FOR: Duration = Duration::from_secs(60);
/// Namespaces asked about at once for one person.
const CONCURRENT_REVIEWS: usize = 8;
/// A SubjectAccessReview's namespace meaning every namespace.
const ALL_NAMESPACES: &str = "";
/// Answers not asked for in this long are forgotten.
const FORGET_AFTER: Duration = Duration::from_secs(600);

/// A signed-in person.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct User {
    pub name: String,
    pub groups: Vec<String>,
    pub email: Option<String>,
}

/// How calls made for a person reach Kubernetes.
#[derive(Clone)]
pub enum Credentials {
    /// `--auth proxy`: the dashboard's own credentials, impersonating them.
    Impersonate(User),
    /// `--auth token`: their own bearer token.
    Token(secrecy::SecretString),
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Credentials::Impersonate(u) => write!(f, "Impersonate({})", u.name),
            Credentials::Token(_) => f.write_str("Token(…)"),
        }
    }
}

/// A client that acts as the person: the API server checks their RBAC.
pub fn client_as(base: &kube::Config, credentials: &Credentials) -> Result<Client, ClientError> {
    let mut config = base.clone();
    config.default_retry = false;
    match credentials {
        Credentials::Impersonate(user) => {
            config.auth_info.impersonate = Some(user.name.clone());
            config.auth_info.impersonate_groups =
                Some(user.groups.clone()).filter(|g| !g.is_empty());
        }
        Credentials::Token(token) => {
            // Only the token: never the dashboard's own certificate or plugin.
            config.auth_info = kube::config::AuthInfo {
                token: Some(token.clone()),
                ..kube::config::AuthInfo::default()
            };
        }
    }
    Client::try_from(config).map_err(|e| ClientError::Client(e.to_string()))
}

/// What a person may do with rollouts in one namespace.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NamespaceAccess {
    /// `list rollouts`: they see the namespace's rollouts.
    pub list: bool,
    /// `patch rollouts/status`: promote, abort, retry.
    pub patch_status: bool,
    /// `patch rollouts`: restart, pause, resume, set image, rollback.
    pub patch: bool,
}

impl NamespaceAccess {
    /// Whether RBAC lets them patch what `action` patches.
    pub fn allows(&self, action: crate::actions::Action) -> bool {
        if action.rbac_subresource() == "status" {
            self.patch_status
        } else {
            self.patch
        }
    }
}

/// One person's rights in one namespace, remembered.
struct Cached {
    access: NamespaceAccess,
    asked: Instant,
    used: Instant,
    refreshing: bool,
}

type TokenAnswer = (Option<User>, Instant);

/// Asks the API server what people may do, and remembers the answers.
#[derive(Clone)]
pub struct AccessReviews {
    client: Client,
    cache: Arc<Mutex<HashMap<(User, String), Cached>>>,
    /// Token → who it is (`None`: invalid) and when that was asked.
    tokens: Arc<Mutex<HashMap<String, TokenAnswer>>>,
    shutdown: CancellationToken,
}

impl AccessReviews {
    /// `client` is the dashboard's own: it needs `create` on
    /// `subjectaccessreviews` (and `tokenreviews` for `--auth token`).
    pub fn new(client: Client, shutdown: CancellationToken) -> Self {
        AccessReviews {
            client,
            cache: Arc::default(),
            tokens: Arc::default(),
            shutdown,
        }
    }

    /// Who `token` belongs to, by TokenReview (`None`: not a valid token).
    /// Answers are remembered a minute, so a page's requests ask once.
    pub async fn token_user(&self, token: &str) -> Result<Option<User>, String> {
        if let Some((user, at)) = lock(&self.tokens).get(token)
            && at.elapsed() < FRESH_FOR
        {
            return Ok(user.clone());
        }
        let review = TokenReview {
            spec: TokenReviewSpec {
                token: Some(token.to_string()),
                ..TokenReviewSpec::default()
            },
            ..TokenReview::default()
        };
        let api: Api<TokenReview> = Api::all(self.client.clone());
        let answer =
            tokio::time::timeout(REVIEW_TIMEOUT, api.create(&PostParams::default(), &review))
                .await
                .map_err(|_| format!("the TokenReview took longer than {REVIEW_TIMEOUT:?}"))?
                .map_err(|e| format!("the TokenReview failed: {e}"))?;
        let status = answer.status.unwrap_or_default();
        let user = status
            .user
            .filter(|_| status.authenticated == Some(true))
            .map(|u| User {
                name: u.username.unwrap_or_default(),
                groups: u.groups.unwrap_or_default(),
                email: None,
            })
            .filter(|u| !u.name.is_empty());
        let mut tokens = lock(&self.tokens);
        tokens.retain(|_, (_, at)| at.elapsed() < FRESH_FOR);
        tokens.insert(token.to_string(), (user.clone(), Instant::now()));
        Ok(user)
    }

    /// What `user` may do in each of `namespaces`. Rights across all
    /// namespaces are asked first and, when they cover everything, no
    /// namespace is asked about; otherwise at most `CONCURRENT_REVIEWS`
    /// namespaces are asked about at once (a cluster with hundreds of
    /// namespaces must not get thousands of reviews in one burst).
    pub async fn in_namespaces(
        &self,
        user: &User,
        namespaces: impl IntoIterator<Item = String>,
    ) -> BTreeMap<String, NamespaceAccess> {
        let everywhere = self.in_namespace(user, ALL_NAMESPACES).await;
        if everywhere.list && everywhere.patch_status && everywhere.patch {
            return namespaces.into_iter().map(|ns| (ns, everywhere)).collect();
        }
        futures_util::stream::iter(namespaces)
            .map(|ns| async move {
                let access = self.in_namespace(user, &ns).await;
                (ns, access)
            })
            .buffer_unordered(CONCURRENT_REVIEWS)
            .collect()
            .await
    }

    /// What `user` may do in `namespace`: remembered for a minute; after
    /// that the remembered answer is used while a fresh one is asked.
    pub async fn in_namespace(&self, user: &User, namespace: &str) -> NamespaceAccess {
        let key = (user.clone(), namespace.to_string());
        {
            let mut cache = lock(&self.cache);
            if let Some(c) = cache.get_mut(&key) {
                c.used = Instant::now();
                if c.asked.elapsed() >= FRESH_FOR && !c.refreshing {
                    c.refreshing = true;
                    let me = self.clone();
                    let key = key.clone();
                    tokio::spawn(async move {
                        tokio::select! {
                            () = me.shutdown.cancelled() => {}
                            access = me.ask(&key.0, &key.1) => me.remember(key, access),
                        }
                    });
                }
                return c.access;
            }
        }
        let access = self.ask(user, namespace).await;
        self.remember(key, access);
        access
    }

    fn remember(&self, key: (User, String), access: NamespaceAccess) {
        let now = Instant::now();
        let mut cache = lock(&self.cache);
        cache.retain(|_, c| c.used.elapsed() < FORGET_AFTER);
        cache.insert(
            key,
            Cached {
                access,
                asked: now,
                used: now,
                refreshing: false,
            },
        );
    }

    async fn ask(&self, user: &User, namespace: &str) -> NamespaceAccess {
        let (list, patch_status, patch) = tokio::join!(
            self.review(user, namespace, "list", ""),
            self.review(user, namespace, "patch", "status"),
            self.review(user, namespace, "patch", ""),
        );
        NamespaceAccess {
            list,
            patch_status,
            patch,
        }
    }

    /// One SubjectAccessReview on rollouts; an error is a "no" (and logged).
    async fn review(&self, user: &User, namespace: &str, verb: &str, subresource: &str) -> bool {
        let review = SubjectAccessReview {
            spec: SubjectAccessReviewSpec {
                user: Some(user.name.clone()),
                groups: Some(user.groups.clone()),
                resource_attributes: Some(ResourceAttributes {
                    namespace: Some(namespace.to_string()).filter(|n| !n.is_empty()),
                    verb: Some(verb.to_string()),
                    group: Some("argoproj.io".to_string()),
                    resource: Some("rollouts".to_string()),
                    subresource: Some(subresource.to_string()).filter(|s| !s.is_empty()),
                    ..ResourceAttributes::default()
                }),
                ..SubjectAccessReviewSpec::default()
            },
            ..SubjectAccessReview::default()
        };
        let api: Api<SubjectAccessReview> = Api::all(self.client.clone());
        match tokio::time::timeout(REVIEW_TIMEOUT, api.create(&PostParams::default(), &review))
            .await
        {
            Ok(Ok(answer)) => answer.status.is_some_and(|s| s.allowed),
            Ok(Err(e)) => {
                tracing::warn!(user = %user.name, namespace, verb, error = %e, "a SubjectAccessReview failed; taken as no");
                false
            }
            Err(_) => {
                tracing::warn!(user = %user.name, namespace, verb, "a SubjectAccessReview timed out; taken as no");
                false
            }
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}
