//! Fault injection for tests: failing, slow or forbidden requests. (Dropped
//! watches and expired resourceVersions live with the server and the store.)

use std::collections::BTreeSet;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::sim::resources::ResourceType;
use crate::sim::store::ApiError;

#[derive(Debug, Default)]
struct State {
    /// Status code of each of the next requests to fail, in order.
    fail_next: Vec<u16>,
    delay: Duration,
    /// Plural names of resources every request to which is forbidden.
    forbidden: BTreeSet<String>,
    /// Plural names forbidden only across all namespaces (a RoleBinding in
    /// one namespace, no ClusterRoleBinding).
    forbidden_cluster_wide: BTreeSet<String>,
    /// Every request fails with this code until then (an outage).
    failing_until: Option<(Instant, u16)>,
    /// The next this many updates and patches find the object changed just
    /// before they apply (as a controller's status write would), so one
    /// carrying the version it read gets 409.
    churn_next: usize,
    /// API groups whose CRDs are "not installed": hidden from discovery,
    /// and every request for them is 404.
    uninstalled: BTreeSet<String>,
}

#[derive(Debug)]
pub struct Faults {
    state: Mutex<State>,
    /// While true, a list's next pages wait (the first page is answered):
    /// tests change objects while a client is part-way through a list.
    pages_held: tokio::sync::watch::Sender<bool>,
}

impl Default for Faults {
    fn default() -> Self {
        Faults {
            state: Mutex::default(),
            pages_held: tokio::sync::watch::Sender::new(false),
        }
    }
}

impl Faults {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Answers the next `count` API requests with `code` (500, 503 or 429).
    pub fn fail_next(&self, count: usize, code: u16) {
        let mut s = self.lock();
        s.fail_next.extend(std::iter::repeat_n(code, count));
    }

    /// The next `count` updates and patches race with another writer.
    pub fn churn_next(&self, count: usize) {
        self.lock().churn_next += count;
    }

    /// Whether this write races with another writer (and counts it).
    pub fn take_churn(&self) -> bool {
        let mut s = self.lock();
        let churn = s.churn_next > 0;
        s.churn_next = s.churn_next.saturating_sub(1);
        churn
    }

    /// Answers every API request with `code` for `duration` from now.
    pub fn fail_for(&self, duration: Duration, code: u16) {
        self.lock().failing_until = Some((Instant::now() + duration, code));
    }

    /// Uninstalls (or installs again) every CRD of an API group.
    pub fn set_uninstalled(&self, group: &str, uninstalled: bool) {
        let mut s = self.lock();
        if uninstalled {
            s.uninstalled.insert(group.to_string());
        } else {
            s.uninstalled.remove(group);
        }
    }

    pub fn is_uninstalled(&self, group: &str) -> bool {
        self.lock().uninstalled.contains(group)
    }

    /// Delays every API response by `delay` (zero to stop).
    pub fn set_delay(&self, delay: Duration) {
        self.lock().delay = delay;
    }

    /// Forbids (or allows again) every request for a resource.
    pub fn set_forbidden(&self, plural: &str, forbidden: bool) {
        let mut s = self.lock();
        if forbidden {
            s.forbidden.insert(plural.to_string());
        } else {
            s.forbidden.remove(plural);
        }
    }

    /// Forbids (or allows again) a resource across all namespaces only.
    pub fn set_forbidden_cluster_wide(&self, plural: &str, forbidden: bool) {
        let mut s = self.lock();
        if forbidden {
            s.forbidden_cluster_wide.insert(plural.to_string());
        } else {
            s.forbidden_cluster_wide.remove(plural);
        }
    }

    pub fn clear(&self) {
        *self.lock() = State::default();
        self.pages_held.send_replace(false);
    }

    /// Holds (or lets go) every list's pages after its first.
    pub fn hold_pages(&self, held: bool) {
        self.pages_held.send_replace(held);
    }

    /// Waits while pages are held.
    pub async fn page_may_go(&self) {
        let mut held = self.pages_held.subscribe();
        // The sender lives as long as `self`: a closed channel cannot occur.
        let _ = held.wait_for(|h| !*h).await;
    }

    pub fn delay(&self) -> Duration {
        self.lock().delay
    }

    /// The error this request gets, if a fault applies to it.
    pub fn check(
        &self,
        rt: Option<&ResourceType>,
        verb: &str,
        namespace: Option<&str>,
    ) -> Option<ApiError> {
        let mut s = self.lock();
        let outage = match s.failing_until {
            Some((until, code)) if Instant::now() < until => Some(code),
            Some(_) => {
                s.failing_until = None;
                None
            }
            None => None,
        };
        let next = (outage.is_none() && !s.fail_next.is_empty()).then(|| s.fail_next.remove(0));
        if let Some(code) = outage.or(next) {
            let (reason, message) = match code {
                429 => (
                    "TooManyRequests",
                    "the server has received too many requests and has asked us to try again later",
                ),
                503 => (
                    "ServiceUnavailable",
                    "the server is currently unable to handle the request",
                ),
                _ => (
                    "InternalError",
                    "an error on the server has prevented the request from succeeding",
                ),
            };
            return Some(ApiError::new(code, reason, message));
        }
        let rt = rt?;
        if s.uninstalled.contains(rt.group) {
            return Some(ApiError::new(
                404,
                "NotFound",
                "the server could not find the requested resource",
            ));
        }
        let cluster_wide = namespace.is_none() && s.forbidden_cluster_wide.contains(rt.plural);
        if cluster_wide || s.forbidden.contains(rt.plural) {
            let group = if rt.group.is_empty() {
                String::new()
            } else {
                format!(".{}", rt.group)
            };
            let scope = match namespace {
                Some(ns) => format!(" in the namespace \"{ns}\""),
                None => " at the cluster scope".to_string(),
            };
            return Some(ApiError::new(
                403,
                "Forbidden",
                format!(
                    "{}{group} is forbidden: User \"system:anonymous\" cannot {verb} resource \"{}\" in API group \"{}\"{scope}",
                    rt.plural, rt.plural, rt.group
                ),
            ));
        }
        None
    }
}
