//! Runs one action over a selection: each rollout is sent exactly as the
//! single action is (`actions::perform`: its RBAC as the person, act on
//! what they saw, the audit line, the Event, the history's credit), a few
//! at a time, within an overall deadline. The run is a task of its own, so
//! a person who leaves the page does not cut it short: what it did is in
//! the audit and the history either way.

use std::collections::HashSet;
use std::time::Duration;

use futures_util::StreamExt;
use serde::Serialize;
use tokio::sync::mpsc;

use crate::actions::Expectation;
use crate::cluster::act::Request;

use super::AppState;
use super::auth::identity::Caller;
use super::auth::limits::{StreamKind, StreamLimits, StreamSlot, StreamSlots};
use super::error::AppError;
use super::metrics::EdgeMetrics;

/// The most rollouts one request acts on: a release across a team's
/// services, not a fleet at once; larger selections are refused (422).
pub const MAX_SELECTION: usize = 200;
/// Rollouts of one run in flight at once (each is a few API calls).
pub const CONCURRENCY: usize = 4;
/// A rollout not yet sent this long after the run began is not sent
/// (504); one already sent has its own deadline (`ACTION_DEADLINE`).
pub const DEADLINE: Duration = Duration::from_secs(60);
/// Runs at once per person (per address with `--auth none`), and in all.
pub const RUNS_PER_CLIENT: usize = 2;
pub const RUNS_TOTAL: usize = 8;

/// The bounds on runs (`AppState::bulk_runs`).
pub fn run_slots(metrics: EdgeMetrics) -> StreamSlots {
    StreamSlots::new(
        StreamLimits {
            per_client: RUNS_PER_CLIENT,
            total: RUNS_TOTAL,
            what: StreamKind::BulkRuns,
            ..StreamLimits::default()
        },
        metrics,
    )
}

/// One rollout of a selection and what the person saw of it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Item {
    pub namespace: String,
    pub name: String,
    pub expect: Expectation,
}

/// What happened to one rollout of the selection, as the single action
/// would answer (`code` is its HTTP status).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Outcome {
    /// Its place in the selection as given.
    pub index: usize,
    pub namespace: String,
    pub name: String,
    pub code: u16,
    pub message: String,
}

impl Outcome {
    fn of(index: usize, item: &Item, answer: Result<String, AppError>) -> Outcome {
        let (code, message) = match answer {
            Ok(message) => (200, message),
            Err(e) => (e.status().as_u16(), e.to_string()),
        };
        Outcome {
            index,
            namespace: item.namespace.clone(),
            name: item.name.clone(),
            code,
            message,
        }
    }
}

/// Starts `request` on every item; each outcome arrives on the receiver
/// as it is known (in the order they finish; `index` says which). The run
/// holds `slot` until it ends, and stops at shutdown.
pub fn start(
    state: &AppState,
    caller: Caller,
    request: Request,
    items: Vec<Item>,
    slot: StreamSlot,
) -> mpsc::Receiver<Outcome> {
    // Room for every outcome: the run never waits for a reader, so one
    // who leaves does not stop it.
    let (tx, rx) = mpsc::channel(items.len().max(1));
    let state = state.clone();
    let stop = state.shutdown.clone();
    // Twice in one selection would be two promotes: the second is not sent.
    let mut seen = HashSet::new();
    let first: Vec<bool> = items
        .iter()
        .map(|i| seen.insert((i.namespace.clone(), i.name.clone())))
        .collect();
    let deadline = tokio::time::Instant::now() + DEADLINE;
    let runs = items
        .into_iter()
        .zip(first)
        .enumerate()
        .map(move |(index, (item, first))| {
            let (state, caller, request, tx) =
                (state.clone(), caller.clone(), request.clone(), tx.clone());
            async move {
                let answer = if first {
                    one(&state, &caller, &item, &request, deadline).await
                } else {
                    Err(AppError::Unprocessable(
                        "listed twice in the selection: acted on once".to_string(),
                    ))
                };
                let _ = tx.try_send(Outcome::of(index, &item, answer));
            }
        });
    tokio::spawn(async move {
        let _slot = slot;
        let all = futures_util::stream::iter(runs)
            .buffer_unordered(CONCURRENCY)
            .for_each(|()| async {});
        tokio::select! {
            _ = all => {}
            _ = stop.cancelled() => {}
        }
    });
    rx
}

/// One item: not sent once the run's deadline has passed or the person's
/// sign-in has ended; otherwise as the single action.
async fn one(
    state: &AppState,
    caller: &Caller,
    item: &Item,
    request: &Request,
    deadline: tokio::time::Instant,
) -> Result<String, AppError> {
    if tokio::time::Instant::now() >= deadline {
        return Err(AppError::GatewayTimeout(format!(
            "not sent: the selection was not through within {} s; act on it again",
            DEADLINE.as_secs()
        )));
    }
    if caller
        .expires()
        .is_some_and(|at| at <= jiff::Timestamp::now().as_second())
    {
        return Err(AppError::Unauthorized(
            "not sent: your sign-in ended during the run".to_string(),
        ));
    }
    let done = super::actions::perform(
        state,
        caller,
        &item.namespace,
        &item.name,
        request,
        &item.expect,
    )
    .await?;
    Ok(done.message)
}

/// Every outcome of a run, in the selection's order.
pub async fn collect(mut rx: mpsc::Receiver<Outcome>, items: &[Item]) -> Vec<Outcome> {
    let mut got: Vec<Option<Outcome>> = vec![None; items.len()];
    while let Some(o) = rx.recv().await {
        if let Some(slot) = got.get_mut(o.index) {
            *slot = Some(o);
        }
    }
    // A run stopped by shutdown leaves some unanswered: say so.
    got.into_iter()
        .zip(items)
        .enumerate()
        .map(|(index, (o, item))| {
            o.unwrap_or_else(|| {
                Outcome::of(
                    index,
                    item,
                    Err(AppError::Unavailable(
                        "not sent: the dashboard stopped during the run".to_string(),
                    )),
                )
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_are_bounded_per_person_and_in_all() {
        let slots = std::sync::Arc::new(run_slots(EdgeMetrics::default()));
        let mine: Vec<_> = (0..RUNS_PER_CLIENT)
            .map(|_| slots.take("user:alice").map_err(|e| e.to_string()))
            .collect();
        assert!(mine.iter().all(Result::is_ok));
        let Err(e) = slots.take("user:alice") else {
            panic!("a third run of one person");
        };
        assert_eq!(e.status().as_u16(), 429);
        assert!(
            e.to_string().contains(
                "you have 2 actions on selections running already; wait until one is through"
            ),
            "{e}"
        );
        let others: Vec<_> = (0..RUNS_TOTAL - RUNS_PER_CLIENT)
            .map(|i| slots.take(&format!("user:{i}")))
            .collect();
        assert!(others.iter().all(Result::is_ok));
        let Err(e) = slots.take("user:zoe") else {
            panic!("one run past the total");
        };
        assert!(
            e.to_string()
                .contains("this dashboard has 8 actions on selections running"),
            "{e}"
        );
        drop(mine);
        assert!(
            slots.take("user:zoe").is_ok(),
            "a run that ends frees its place"
        );
    }
}
