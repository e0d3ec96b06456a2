//! What several handlers ask of the live view on a caller's behalf: which
//! namespace a path names, the snapshot once rollouts are listed, one
//! rollout, and the caller's rights over what a response covers.

use std::collections::BTreeSet;
use std::time::Duration;

use crate::cluster::health::{Problem, ScopeState};
use crate::cluster::hub::{RolloutEntry, Snapshot};
use crate::cluster::object::Kind;
use crate::model::RolloutKey;

use super::AppState;
use super::auth::identity::Caller;
use super::auth::permissions::{Permissions, Rights};
use super::error::AppError;

/// `{ns}` meaning every namespace shown.
pub const ALL_NAMESPACES: &str = "_all";
/// How long a request made right after start waits for the first list.
const FIRST_LIST_WAIT: Duration = Duration::from_secs(5);

/// 404 for a namespace this dashboard does not show, 403 for one the
/// caller may not see (and 503 when that cannot be checked now), before
/// anything about its rollouts is looked up.
pub async fn require_sees(
    state: &AppState,
    caller: &Caller,
    namespace: &str,
) -> Result<(), AppError> {
    if namespace == ALL_NAMESPACES {
        return Err(AppError::BadRequest(format!(
            "{ALL_NAMESPACES} names every namespace; a rollout needs its own"
        )));
    }
    let snapshot = rollouts_listed(state, Some(namespace)).await?;
    Permissions::of(state, caller)
        .require_sees(&snapshot, namespace)
        .await
}

/// `None` for `_all`.
pub fn namespace_filter(ns: &str) -> Option<&str> {
    (ns != ALL_NAMESPACES).then_some(ns)
}

/// The rollouts of `ns` (all when `None`), in `namespace/name` order.
pub fn in_namespace<'a>(
    snapshot: &'a Snapshot,
    ns: Option<&'a str>,
) -> impl Iterator<Item = (&'a RolloutKey, &'a std::sync::Arc<RolloutEntry>)> + 'a {
    snapshot
        .rollouts
        .iter()
        .filter(move |(k, _)| ns.is_none_or(|n| k.namespace == n))
}

/// What the caller may do in every namespace of `ns` (all when `None`)
/// that has rollouts in `snapshot`.
pub async fn rights_in(
    perms: &Permissions,
    snapshot: &Snapshot,
    ns: Option<&str>,
) -> Result<Rights, AppError> {
    if perms.sees_everything() {
        return Ok(Rights::All);
    }
    let namespaces: BTreeSet<String> = in_namespace(snapshot, ns)
        .map(|(k, _)| k.namespace.clone())
        .collect();
    perms.rights(namespaces).await
}

/// The rollout `ns/name` once rollouts are listed, or why not.
pub async fn find_rollout(
    state: &AppState,
    namespace: &str,
    name: &str,
) -> Result<(Snapshot, std::sync::Arc<RolloutEntry>), AppError> {
    if namespace == ALL_NAMESPACES {
        return Err(AppError::BadRequest(format!(
            "{ALL_NAMESPACES} names every namespace; a rollout needs its own"
        )));
    }
    let snapshot = rollouts_listed(state, Some(namespace)).await?;
    let key = RolloutKey::new(namespace, name);
    let entry = snapshot.rollouts.get(&key).cloned().ok_or_else(|| {
        AppError::NotFound(format!(
            "rollouts.argoproj.io \"{name}\" not found in namespace \"{namespace}\""
        ))
    })?;
    Ok((snapshot, entry))
}

/// A snapshot in which the rollouts of `ns` have been listed at least once.
/// Right after start this waits briefly for the first list; an API that
/// refuses or cannot be reached gives its error at once.
pub async fn rollouts_listed(state: &AppState, ns: Option<&str>) -> Result<Snapshot, AppError> {
    let deadline = tokio::time::Instant::now() + FIRST_LIST_WAIT;
    let mut changes = state.view.subscribe();
    loop {
        let snapshot = state.view.snapshot();
        let health = &snapshot.health;
        if let Some(ns) = ns
            && !health.scope.includes(ns)
        {
            return Err(not_shown(&health.scope, ns));
        }
        if health.synced(Kind::Rollout, ns) {
            return Ok(snapshot);
        }
        if let Some(w) = health.failure(Kind::Rollout, ns) {
            let error = w.error.clone().unwrap_or_default();
            return Err(match w.problem {
                Some(Problem::Forbidden) => AppError::Forbidden(error),
                _ => AppError::BadGateway(error),
            });
        }
        if let ScopeState::Resolving { error: Some(e) } = &health.scope {
            return Err(AppError::BadGateway(e.clone()));
        }
        match tokio::time::timeout_at(deadline, changes.recv()).await {
            Ok(Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_))) => {}
            Ok(Err(tokio::sync::broadcast::error::RecvError::Closed)) | Err(_) => {
                return Err(AppError::Unavailable(
                    "the dashboard is still loading the rollouts; try again in a moment".into(),
                ));
            }
        }
    }
}

fn not_shown(scope: &ScopeState, ns: &str) -> AppError {
    match scope {
        ScopeState::Namespaces {
            notice: Some(notice),
            ..
        } => AppError::Forbidden(format!("namespace {ns:?} is not shown. {notice}")),
        ScopeState::Namespaces { namespaces, .. } => AppError::NotFound(format!(
            "namespace {ns:?} is not watched by this dashboard (it shows {})",
            namespaces.join(", ")
        )),
        _ => AppError::NotFound(format!("namespace {ns:?} is not shown")),
    }
}

/// A revision number from a path or query (`which` names it), or 400.
pub fn revision_number(text: &str, which: &str) -> Result<i64, AppError> {
    text.parse::<i64>().ok().filter(|r| *r > 0).ok_or_else(|| {
        AppError::BadRequest(format!("{which} must be a revision number, not {text:?}"))
    })
}

/// The release history, or 404 saying this dashboard keeps none.
pub fn history_kept(state: &AppState) -> Result<&crate::history::History, AppError> {
    state.history.as_ref().ok_or_else(|| {
        AppError::NotFound("this dashboard keeps no release history (--history-db off)".into())
    })
}
