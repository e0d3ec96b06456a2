//! What one person may see and do, namespace by namespace, from the
//! SubjectAccessReviews of `cluster/access.rs` (the API server's RBAC is
//! the only source of truth). A namespace from a URL is checked for form
//! and for being one this dashboard shows before anything is asked, so
//! made-up names cost the API server nothing.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::identity::{Auth, Caller};
use crate::actions::Action;
use crate::cluster::access::{AccessReviews, NamespaceAccess, User, client_as};
use crate::cluster::act::Actor;
use crate::cluster::health::{Health, ScopeState};
use crate::cluster::hub::Snapshot;
use crate::model::RolloutKey;
use crate::web::AppState;
use crate::web::error::AppError;
use crate::web::view::health::{BannerView, namespaces_named};

/// What the caller may do in the namespaces a response covers.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Rights {
    /// `--auth none`: everything the dashboard's credentials allow.
    All,
    Per(BTreeMap<String, NamespaceAccess>),
}

impl Rights {
    pub fn access(&self, namespace: &str) -> NamespaceAccess {
        match self {
            Rights::All => NamespaceAccess {
                list: true,
                patch_status: true,
                patch: true,
            },
            Rights::Per(map) => map.get(namespace).copied().unwrap_or_default(),
        }
    }

    pub fn sees(&self, namespace: &str) -> bool {
        self.access(namespace).list
    }

    /// Whether these rights were asked for every namespace of `snap`:
    /// one with rollouts new since then has not been asked about.
    pub fn cover(&self, snap: &Snapshot) -> bool {
        match self {
            Rights::All => true,
            Rights::Per(map) => snap
                .tallies
                .namespaces
                .keys()
                .all(|ns| map.contains_key(ns)),
        }
    }
}

/// What one caller may see and do, asked per namespace when needed (the
/// answers are kept for the refresh interval in `AccessReviews`, so a
/// stream can ask for every change).
///
/// It points at the dashboard's reviews rather than holding a copy of
/// them (half a kilobyte), since every open page keeps one.
#[derive(Clone)]
pub struct Permissions {
    user: Option<User>,
    auth: Arc<Auth>,
}

impl Permissions {
    pub fn of(state: &AppState, caller: &Caller) -> Permissions {
        Permissions {
            user: caller.user().cloned(),
            auth: state.auth.clone(),
        }
    }

    fn reviews(&self) -> Option<&AccessReviews> {
        self.auth.reviews.as_ref()
    }

    /// `--auth none`: no person, nothing to filter.
    pub fn sees_everything(&self) -> bool {
        self.user.is_none() || self.reviews().is_none()
    }

    /// Their rights in `namespace`; 503 when Kubernetes could not be asked.
    ///
    /// Each review's future is boxed here: an access review (moka, kube's
    /// client, hyper) is tens of kilobytes of state, and awaited inline it
    /// made every open page's stream task that large for as long as the
    /// page stayed open (49 KB of a page's 98 KB at 5,000 rollouts).
    pub async fn access(&self, namespace: &str) -> Result<NamespaceAccess, AppError> {
        match (&self.user, self.reviews()) {
            (Some(user), Some(reviews)) => Box::pin(reviews.in_namespace(user, namespace))
                .await
                .map_err(AppError::from),
            _ => Ok(Rights::All.access(namespace)),
        }
    }

    /// Whether they may read pod logs (`get pods/log`) in `namespace`; 503
    /// when Kubernetes could not be asked.
    pub async fn may_read_logs(&self, namespace: &str) -> Result<bool, AppError> {
        match (&self.user, self.reviews()) {
            (Some(user), Some(reviews)) => Box::pin(reviews.may_read_logs(user, namespace))
                .await
                .map_err(AppError::from),
            _ => Ok(true),
        }
    }

    /// The rights in all of `namespaces` at once (asked concurrently).
    pub async fn rights(
        &self,
        namespaces: impl IntoIterator<Item = String>,
    ) -> Result<Rights, AppError> {
        match (&self.user, self.reviews()) {
            (Some(user), Some(reviews)) => Box::pin(reviews.in_namespaces(user, namespaces))
                .await
                .map(Rights::Per)
                .map_err(AppError::from),
            _ => Ok(Rights::All),
        }
    }

    /// The connection banner as this person may see it: failing watches
    /// and malformed objects only of namespaces where they may list
    /// rollouts (none, when that cannot be asked now).
    pub async fn banner(&self, health: &Health) -> BannerView {
        if self.sees_everything() {
            return BannerView::of(health);
        }
        let rights = self
            .rights(namespaces_named(health))
            .await
            .unwrap_or_else(|_| Rights::Per(BTreeMap::new()));
        BannerView::for_viewer(health, &|ns| rights.sees(ns))
    }

    /// 404 unless `namespace` is one this dashboard shows (checked without
    /// asking Kubernetes), then 403 unless the caller may list rollouts
    /// there (asked before looking the rollout up, so nothing tells
    /// whether it exists).
    pub async fn require_sees(&self, snapshot: &Snapshot, namespace: &str) -> Result<(), AppError> {
        if !shown_namespace(snapshot, namespace) {
            return Err(AppError::NotFound(format!(
                "this dashboard shows no rollouts in namespace {namespace:?}"
            )));
        }
        if self.access(namespace).await?.list {
            Ok(())
        } else {
            Err(not_visible(namespace))
        }
    }
}

/// Whether `namespace` is a namespace name and one this dashboard shows:
/// it has rollouts, or it was named with `-n`.
pub fn shown_namespace(snapshot: &Snapshot, namespace: &str) -> bool {
    if !crate::model::is_namespace_name(namespace) {
        return false;
    }
    if let ScopeState::Namespaces { namespaces, .. } = &snapshot.health.scope
        && namespaces.iter().any(|n| n == namespace)
    {
        return true;
    }
    snapshot
        .rollouts
        .range(RolloutKey::new(namespace, "")..)
        .next()
        .is_some_and(|(k, _)| k.namespace == namespace)
}

/// The actor that sends `caller`'s actions: the dashboard's own, or one
/// acting as the person (the API server's RBAC has the last word).
pub fn actor_for(state: &AppState, caller: &Caller) -> Result<Actor, AppError> {
    match caller {
        Caller::Dashboard => Ok(state.actor.clone()),
        Caller::Person { credentials, .. } => client_as(&state.auth.base_config, credentials)
            .map(|client| state.actor.acting_as(client))
            .map_err(|e| AppError::BadGateway(e.to_string())),
    }
}

/// 403 for a namespace whose pod logs the caller may not read.
pub fn no_logs(namespace: &str) -> AppError {
    AppError::Forbidden(format!(
        "you may not read pod logs in namespace {namespace}: your Kubernetes RBAC does not allow get on pods/log there"
    ))
}

/// 403 for a namespace whose rollouts the caller may not list.
pub fn not_visible(namespace: &str) -> AppError {
    AppError::Forbidden(format!(
        "you may not see rollouts in namespace {namespace}: your Kubernetes RBAC does not allow list on rollouts there"
    ))
}

/// "you may not patch rollouts/status in namespace team-b".
pub fn refusal(action: Action, namespace: &str) -> AppError {
    let resource = match action.rbac_subresource() {
        "" => "rollouts".to_string(),
        sub => format!("rollouts/{sub}"),
    };
    AppError::Forbidden(format!(
        "you may not {} here: your Kubernetes RBAC does not allow patch on {resource} in namespace {namespace}",
        crate::actions::verb(action)
    ))
}
