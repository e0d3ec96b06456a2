//! Live streams end when their person's sign-in does: at the session's or
//! ID token's expiry, or (`--auth token`) when Kubernetes stops accepting
//! the token; and every refresh interval the stream re-checks the person's
//! rights (what that means is up to each stream).

use std::sync::Arc;
use std::time::Duration;

use secrecy::ExposeSecret;
use tokio::time::Instant;

use super::identity::{Auth, Caller, now};
use crate::cluster::access::Credentials;
use crate::web::AppState;

/// What the next tick says.
#[derive(Debug, PartialEq, Eq)]
pub enum Tick {
    /// Time to re-check the person's rights.
    Recheck,
    /// Their sign-in has ended: the stream's last message.
    Ended(String),
}

/// One stream's schedule of checks. It keeps only the identity part of
/// the dashboard's state: it lives as long as the stream.
pub struct Lapse {
    auth: Arc<Auth>,
    caller: Caller,
    every: Duration,
    next_check: Instant,
}

impl Lapse {
    pub fn new(state: &AppState, caller: &Caller) -> Lapse {
        // Answers are kept for the refresh interval; looking four times as
        // often sees a withdrawn right within about 1¼ intervals (most
        // looks are cache hits and cost Kubernetes nothing).
        let every = state
            .auth
            .reviews
            .as_ref()
            .map_or(Duration::from_secs(3600), |r| r.refresh() / 4)
            .max(Duration::from_millis(250));
        Lapse {
            auth: state.auth.clone(),
            caller: caller.clone(),
            every,
            next_check: Instant::now() + every,
        }
    }

    /// Waits for the next check or the end of the sign-in; never resolves
    /// for `--auth none`. Cancel-safe: the schedule survives a `select!`.
    pub async fn next(&mut self) -> Tick {
        if self.caller.user().is_none() {
            return std::future::pending().await;
        }
        let until_expiry = self
            .caller
            .expires()
            .map(|e| Duration::from_secs(u64::try_from(e - now()).unwrap_or(0)));
        let expiry_at = until_expiry.map(|d| Instant::now() + d);
        let wake = match expiry_at {
            Some(e) if e < self.next_check => e,
            _ => self.next_check,
        };
        tokio::time::sleep_until(wake).await;
        if self
            .caller
            .session()
            .is_some_and(|id| self.auth.signed_out.is_signed_out(id))
        {
            return Tick::Ended("This session was signed out: sign in again.".into());
        }
        if self.caller.expires().is_some_and(|e| e <= now()) {
            return Tick::Ended(
                "Your sign-in has expired: sign in again to follow the rollouts.".into(),
            );
        }
        self.next_check = Instant::now() + self.every;
        if let (
            Caller::Person {
                credentials: Credentials::Token(token),
                ..
            },
            Some(reviews),
        ) = (&self.caller, &self.auth.reviews)
            // Boxed: a review's state is tens of kilobytes, and inline it
            // would sit in every open stream's task (see Permissions).
            && let Ok(None) = Box::pin(reviews.token_user(token.expose_secret(), None)).await
        {
            return Tick::Ended(
                "Kubernetes no longer accepts your token: sign in again.".to_string(),
            );
        }
        Tick::Recheck
    }
}

/// A namespace's rights were withdrawn: the stream's last words.
pub fn no_longer(namespace: &str) -> String {
    format!("You no longer have access to rollouts in namespace {namespace}.")
}
