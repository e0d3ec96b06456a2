//! Who among several replicas writes the release history: the holder of a
//! `coordination.k8s.io/v1` Lease, taken and renewed as client-go's leader
//! election does (a holder is gone when its record has not changed for the
//! lease's duration by our clock, so clocks need not agree), and let go on
//! shutdown so another replica takes over at once.

use std::time::Duration;

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use kube::api::{Api, PostParams};
use tokio::sync::watch;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::backoff::Backoff;

/// No Lease call waits longer than this.
const CALL_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Clone, Debug)]
pub struct LeaseSettings {
    pub namespace: String,
    pub name: String,
    /// This replica, as the Lease names its holder.
    pub identity: String,
    /// How long a holder that stops renewing keeps it.
    pub duration: Duration,
    /// How often the holder renews, and others look.
    pub renew_every: Duration,
}

/// Starts taking and renewing the Lease; the receiver says whether this
/// replica holds it. Stops (and lets go) on `shutdown`.
pub fn start(
    client: kube::Client,
    settings: LeaseSettings,
    shutdown: CancellationToken,
) -> watch::Receiver<bool> {
    let (tx, rx) = watch::channel(false);
    tokio::spawn(async move {
        let api: Api<Lease> = Api::namespaced(client, &settings.namespace);
        let mut seen: Option<(String, Instant)> = None;
        let mut backoff = Backoff::new();
        loop {
            let held = match tokio::time::timeout(
                CALL_TIMEOUT,
                try_hold(&api, &settings, &mut seen),
            )
            .await
            {
                Ok(Ok(held)) => {
                    backoff.reset();
                    held
                }
                Ok(Err(e)) => {
                    tracing::warn!(lease = %settings.name, error = %e, "cannot read or renew the history Lease");
                    false
                }
                Err(_) => {
                    tracing::warn!(lease = %settings.name, "the API server did not answer about the history Lease in time");
                    false
                }
            };
            if held != *tx.borrow() {
                tracing::info!(lease = %settings.name, identity = %settings.identity, held, "history Lease");
                tx.send_replace(held);
            }
            // While the Lease can be read, look as often as its holder
            // renews; when it cannot, back off.
            let wait = if held || seen.is_some() {
                settings.renew_every
            } else {
                backoff.step()
            };
            tokio::select! {
                _ = shutdown.cancelled() => {
                    if *tx.borrow() {
                        tx.send_replace(false);
                        let _ = tokio::time::timeout(CALL_TIMEOUT, release(&api, &settings)).await;
                    }
                    return;
                }
                _ = tokio::time::sleep(wait) => {}
            }
        }
    });
    rx
}

/// Takes the Lease when it is free or its holder has gone quiet, renews it
/// when it is ours. `seen` is the holder's last record and when it changed.
async fn try_hold(
    api: &Api<Lease>,
    s: &LeaseSettings,
    seen: &mut Option<(String, Instant)>,
) -> Result<bool, kube::Error> {
    let now = MicroTime(jiff::Timestamp::now());
    let duration_s = i32::try_from(s.duration.as_secs()).unwrap_or(i32::MAX);
    let Some(mut lease) = api.get_opt(&s.name).await? else {
        let lease = Lease {
            metadata: kube::api::ObjectMeta {
                name: Some(s.name.clone()),
                namespace: Some(s.namespace.clone()),
                ..Default::default()
            },
            spec: Some(LeaseSpec {
                holder_identity: Some(s.identity.clone()),
                lease_duration_seconds: Some(duration_s),
                acquire_time: Some(now.clone()),
                renew_time: Some(now),
                lease_transitions: Some(0),
                ..Default::default()
            }),
        };
        return match api.create(&PostParams::default(), &lease).await {
            Ok(_) => Ok(true),
            Err(kube::Error::Api(e)) if e.code == 409 => Ok(false),
            Err(e) => Err(e),
        };
    };
    let spec = lease.spec.clone().unwrap_or_default();
    let holder = spec.holder_identity.clone().unwrap_or_default();
    let record = format!(
        "{holder}|{:?}|{:?}",
        spec.renew_time.as_ref().map(|t| t.0),
        spec.lease_duration_seconds
    );
    let changed_at = match seen {
        Some((r, at)) if *r == record => *at,
        _ => {
            *seen = Some((record, Instant::now()));
            Instant::now()
        }
    };
    let their_duration = spec
        .lease_duration_seconds
        .and_then(|d| u64::try_from(d).ok())
        .map_or(s.duration, Duration::from_secs);
    let ours = holder == s.identity;
    let free = holder.is_empty() || changed_at.elapsed() > their_duration;
    if !ours && !free {
        return Ok(false);
    }
    lease.spec = Some(LeaseSpec {
        holder_identity: Some(s.identity.clone()),
        lease_duration_seconds: Some(duration_s),
        acquire_time: if ours {
            spec.acquire_time
        } else {
            Some(now.clone())
        },
        renew_time: Some(now),
        lease_transitions: Some(spec.lease_transitions.unwrap_or(0) + i32::from(!ours)),
        ..spec
    });
    // The resourceVersion read above makes this fail if anyone wrote since.
    match api.replace(&s.name, &PostParams::default(), &lease).await {
        Ok(_) => Ok(true),
        Err(kube::Error::Api(e)) if e.code == 409 => Ok(false),
        Err(e) => Err(e),
    }
}

/// Lets go: an empty holder, so the next replica to look takes it.
async fn release(api: &Api<Lease>, s: &LeaseSettings) {
    let Ok(Some(mut lease)) = api.get_opt(&s.name).await else {
        return;
    };
    let Some(spec) = lease.spec.as_mut() else {
        return;
    };
    if spec.holder_identity.as_deref() != Some(s.identity.as_str()) {
        return;
    }
    spec.holder_identity = None;
    spec.lease_duration_seconds = Some(1);
    spec.renew_time = Some(MicroTime(jiff::Timestamp::now()));
    match api.replace(&s.name, &PostParams::default(), &lease).await {
        Ok(_) => tracing::info!(lease = %s.name, "let go of the history Lease"),
        Err(e) => {
            tracing::warn!(lease = %s.name, error = %e, "cannot let go of the history Lease; another replica takes it when it expires")
        }
    }
}
