//! Who a person is to Kubernetes and what RBAC lets them do: TokenReview for
//! a bearer token, SubjectAccessReview for a user and namespace (each
//! answer kept for the refresh interval in a bounded cache), and a client
//! that acts as the
//! person (impersonation, or their own token). The API server's RBAC is the
//! only source of truth; nothing here grants anything.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use k8s_openapi::api::authentication::v1::{TokenReview, TokenReviewSpec};
use k8s_openapi::api::authorization::v1::{
    ResourceAttributes, SubjectAccessReview, SubjectAccessReviewSpec,
};
use kube::Client;
use kube::api::{Api, PostParams};

use super::client::ClientError;

/// Every review gives up after this long (the person gets "could not
/// check your access", and the next request asks again).
const REVIEW_TIMEOUT: Duration = Duration::from_secs(5);
/// Namespaces asked about at once for one person.
const CONCURRENT_REVIEWS: usize = 8;
/// A SubjectAccessReview's namespace meaning every namespace.
const ALL_NAMESPACES: &str = "";
/// Rights remembered at once (person × namespace); the least recently
/// used go first. About 200 bytes each.
const RIGHTS_CAPACITY: u64 = 20_000;
/// Tokens remembered at once, by their SHA-256 (valid and invalid).
const TOKENS_CAPACITY: u64 = 10_000;
/// A token Kubernetes refused is not asked about again for this long.
const INVALID_TOKEN_FOR: Duration = Duration::from_secs(30);
/// TokenReviews in flight at once, whoever asks.
const CONCURRENT_TOKEN_REVIEWS: usize = 4;
/// TokenReviews one client address may cause: a burst, then a steady rate.
const TOKEN_REVIEW_BURST: f64 = 20.0;
const TOKEN_REVIEWS_PER_SECOND: f64 = 2.0;
/// Client addresses whose rate is remembered.
const ADDRESSES_CAPACITY: u64 = 10_000;
/// The group the API server adds for every authenticated user, also for
/// impersonated ones; reviews must carry it to answer as the API server
/// will when the person acts.
pub const ALL_AUTHENTICATED: &str = "system:authenticated";

/// A signed-in person.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct User {
    pub name: String,
    pub groups: Vec<String>,
    pub email: Option<String>,
    /// From a TokenReview: passed on to access reviews as the API server
    /// knows them.
    pub uid: Option<String>,
    pub extra: BTreeMap<String, Vec<String>>,
}

impl User {
    pub fn named(name: impl Into<String>, groups: Vec<String>, email: Option<String>) -> User {
        User {
            name: name.into(),
            groups,
            email,
            uid: None,
            extra: BTreeMap::new(),
        }
    }

    /// The groups the API server sees for this person: theirs, plus
    /// `system:authenticated`.
    pub fn groups_as_seen(&self) -> Vec<String> {
        let mut groups = self.groups.clone();
        if !groups.iter().any(|g| g == ALL_AUTHENTICATED) {
            groups.push(ALL_AUTHENTICATED.to_string());
        }
        groups
    }
}

/// Why a person's identity or rights could not be established now (the
/// API server failed or is slow; nothing is remembered, the next request
/// asks again).
#[derive(Clone, Debug, thiserror::Error, PartialEq, Eq)]
pub enum CheckError {
    #[error("could not check your access: {0}")]
    Review(String),
    #[error("too many sign-in attempts from {0}; wait a few seconds")]
    TooManyTokens(IpAddr),
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
            config.auth_info.impersonate_uid = user.uid.clone();
            config.auth_info.impersonate_user_extra = Some(
                user.extra
                    .iter()
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect(),
            )
            .filter(|e: &std::collections::HashMap<_, _>| !e.is_empty());
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
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
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

/// Who a token is (`None`: Kubernetes refused it); valid answers are
/// kept for the refresh interval, refusals for `INVALID_TOKEN_FOR`.
struct TokenExpiry {
    valid_for: Duration,
}

impl moka::Expiry<[u8; 32], Option<User>> for TokenExpiry {
    fn expire_after_create(
        &self,
        _key: &[u8; 32],
        value: &Option<User>,
        _created_at: Instant,
    ) -> Option<Duration> {
        Some(if value.is_some() {
            self.valid_for
        } else {
            INVALID_TOKEN_FOR
        })
    }
}

/// A token bucket per client address.
struct Bucket {
    tokens: f64,
    at: Instant,
}

/// Asks the API server what people may do, and remembers the answers for
/// `refresh` (bounded in number; one review in flight per question).
#[derive(Clone)]
pub struct AccessReviews {
    client: Client,
    rights: moka::future::Cache<(User, String), NamespaceAccess>,
    /// `get pods/log` per person and namespace, asked only where logs are
    /// wanted (a rollout's page, its logs).
    log_rights: moka::future::Cache<(User, String), bool>,
    tokens: moka::future::Cache<[u8; 32], Option<User>>,
    token_slots: Arc<tokio::sync::Semaphore>,
    rates: moka::sync::Cache<IpAddr, Arc<Mutex<Bucket>>>,
    refresh: Duration,
}

impl AccessReviews {
    /// `client` is the dashboard's own: it needs `create` on
    /// `subjectaccessreviews` (and `tokenreviews` for `--auth token`).
    /// Answers are asked again after `refresh`.
    pub fn new(client: Client, refresh: Duration) -> Self {
        AccessReviews {
            client,
            rights: moka::future::Cache::builder()
                .max_capacity(RIGHTS_CAPACITY)
                .time_to_live(refresh)
                .build(),
            log_rights: moka::future::Cache::builder()
                .max_capacity(RIGHTS_CAPACITY)
                .time_to_live(refresh)
                .build(),
            tokens: moka::future::Cache::builder()
                .max_capacity(TOKENS_CAPACITY)
                .expire_after(TokenExpiry { valid_for: refresh })
                .build(),
            token_slots: Arc::new(tokio::sync::Semaphore::new(CONCURRENT_TOKEN_REVIEWS)),
            rates: moka::sync::Cache::builder()
                .max_capacity(ADDRESSES_CAPACITY)
                .time_to_idle(Duration::from_secs(600))
                .build(),
            refresh,
        }
    }

    /// How long an answer is used before it is asked again.
    pub fn refresh(&self) -> Duration {
        self.refresh
    }

    /// Who `token` belongs to, by TokenReview (`None`: not a valid token).
    /// Remembered by the token's SHA-256, never the token; a token asked
    /// about by many requests at once costs one review; a client address
    /// (`from`) causing more reviews than its rate allows is refused.
    pub async fn token_user(
        &self,
        token: &str,
        from: Option<IpAddr>,
    ) -> Result<Option<User>, CheckError> {
        let digest = ring::digest::digest(&ring::digest::SHA256, token.as_bytes());
        let mut key = [0u8; 32];
        key.copy_from_slice(digest.as_ref());
        if let Some(known) = self.tokens.get(&key).await {
            return Ok(known);
        }
        // `None`: a re-check of a stream's own token, not a request.
        if let Some(from) = from
            && !self.take_token_review(from)
        {
            return Err(CheckError::TooManyTokens(from));
        }
        self.tokens
            .try_get_with(key, self.token_review(token))
            .await
            .map_err(|e| (*e).clone())
    }

    /// One TokenReview from `from`'s budget; false when it is spent.
    fn take_token_review(&self, from: IpAddr) -> bool {
        let bucket = self.rates.get_with(from, || {
            Arc::new(Mutex::new(Bucket {
                tokens: TOKEN_REVIEW_BURST,
                at: Instant::now(),
            }))
        });
        let mut b = lock(&bucket);
        let now = Instant::now();
        b.tokens = (b.tokens + now.duration_since(b.at).as_secs_f64() * TOKEN_REVIEWS_PER_SECOND)
            .min(TOKEN_REVIEW_BURST);
        b.at = now;
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    async fn token_review(&self, token: &str) -> Result<Option<User>, CheckError> {
        let _slot = self
            .token_slots
            .acquire()
            .await
            .map_err(|_| CheckError::Review("shutting down".to_string()))?;
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
                .map_err(|_| {
                    CheckError::Review(format!(
                        "the TokenReview took longer than {REVIEW_TIMEOUT:?}"
                    ))
                })?
                .map_err(|e| CheckError::Review(format!("the TokenReview failed: {e}")))?;
        let status = answer.status.unwrap_or_default();
        Ok(status
            .user
            .filter(|_| status.authenticated == Some(true))
            .map(|u| User {
                name: u.username.unwrap_or_default(),
                groups: u.groups.unwrap_or_default(),
                email: None,
                uid: u.uid.filter(|uid| !uid.is_empty()),
                extra: u.extra.unwrap_or_default(),
            })
            .filter(|u| !u.name.is_empty()))
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
    ) -> Result<BTreeMap<String, NamespaceAccess>, CheckError> {
        let everywhere = self.in_namespace(user, ALL_NAMESPACES).await?;
        if everywhere.list && everywhere.patch_status && everywhere.patch {
            return Ok(namespaces.into_iter().map(|ns| (ns, everywhere)).collect());
        }
        futures_util::stream::iter(namespaces)
            .map(|ns| async move {
                let access = self.in_namespace(user, &ns).await?;
                Ok((ns, access))
            })
            .buffer_unordered(CONCURRENT_REVIEWS)
            .collect::<Vec<Result<_, CheckError>>>()
            .await
            .into_iter()
            .collect()
    }

    /// What `user` may do in `namespace` (`""`: in every namespace), asked
    /// once per refresh interval. A failed review is not remembered.
    pub async fn in_namespace(
        &self,
        user: &User,
        namespace: &str,
    ) -> Result<NamespaceAccess, CheckError> {
        let key = (user.clone(), namespace.to_string());
        self.rights
            .try_get_with(key, self.ask(user, namespace))
            .await
            .map_err(|e| (*e).clone())
    }

    /// Whether `user` may read pod logs (`get pods/log`) in `namespace`,
    /// asked once per refresh interval. A failed review is not remembered.
    pub async fn may_read_logs(&self, user: &User, namespace: &str) -> Result<bool, CheckError> {
        let key = (user.clone(), namespace.to_string());
        let question = Question {
            verb: "get",
            group: "",
            resource: "pods",
            subresource: "log",
        };
        self.log_rights
            .try_get_with(key, self.review(user, namespace, question))
            .await
            .map_err(|e| (*e).clone())
    }

    async fn ask(&self, user: &User, namespace: &str) -> Result<NamespaceAccess, CheckError> {
        let on_rollouts = |verb, subresource| Question {
            verb,
            group: "argoproj.io",
            resource: "rollouts",
            subresource,
        };
        let (list, patch_status, patch) = tokio::join!(
            self.review(user, namespace, on_rollouts("list", "")),
            self.review(user, namespace, on_rollouts("patch", "status")),
            self.review(user, namespace, on_rollouts("patch", "")),
        );
        Ok(NamespaceAccess {
            list: list?,
            patch_status: patch_status?,
            patch: patch?,
        })
    }

    /// One SubjectAccessReview, for the person as the API server will see
    /// them when they act.
    async fn review(&self, user: &User, namespace: &str, q: Question) -> Result<bool, CheckError> {
        let Question {
            verb,
            group,
            resource,
            subresource,
        } = q;
        let review = SubjectAccessReview {
            spec: SubjectAccessReviewSpec {
                user: Some(user.name.clone()),
                groups: Some(user.groups_as_seen()),
                uid: user.uid.clone(),
                extra: Some(user.extra.clone()).filter(|e| !e.is_empty()),
                resource_attributes: Some(ResourceAttributes {
                    namespace: Some(namespace.to_string()).filter(|n| !n.is_empty()),
                    verb: Some(verb.to_string()),
                    group: Some(group.to_string()),
                    resource: Some(resource.to_string()),
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
            Ok(Ok(answer)) => Ok(answer.status.is_some_and(|s| s.allowed)),
            Ok(Err(e)) => {
                tracing::warn!(user = %user.name, namespace, verb, error = %e, "a SubjectAccessReview failed");
                Err(CheckError::Review(format!(
                    "the SubjectAccessReview failed: {e}"
                )))
            }
            Err(_) => {
                tracing::warn!(user = %user.name, namespace, verb, "a SubjectAccessReview timed out");
                Err(CheckError::Review(format!(
                    "the SubjectAccessReview took longer than {REVIEW_TIMEOUT:?}"
                )))
            }
        }
    }
}

/// What one access review asks.
#[derive(Clone, Copy)]
struct Question {
    verb: &'static str,
    group: &'static str,
    resource: &'static str,
    subresource: &'static str,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}
