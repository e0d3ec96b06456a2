//! What the simulated pods write to their logs, as a kubelet keeps them:
//! per container, a line when it starts, then an access-log line for a
//! sample of the requests the simulated mesh sends it (at most
//! `LINES_PER_SECOND` a second), with the status and latency the scenario
//! sets, so a failing canary's 503s show. Lines are written when someone
//! asks, from where the container's log was left, with the pod's traffic
//! then, and never rewritten; the last `KEPT` are kept (the kubelet
//! rotates too). A rollout may make its pods write faster and longer lines
//! (sim/mesh/mod.rs's annotations), as benchmarks do.

use std::collections::{HashMap, VecDeque};
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::Mutex;

use jiff::{SignedDuration, Timestamp};
use serde_json::Value;

use super::json::text;
use super::pod_traffic::Traffic;

/// Access-log lines a second per container, unless the rollout says.
pub const LINES_PER_SECOND: u32 = 2;
/// Lines kept per container, and bytes.
pub const KEPT: usize = 4000;
const KEPT_BYTES: usize = 16 << 20;
/// Containers whose logs are kept; past it, the least recently read go.
const CONTAINERS: usize = 10_000;

/// One line as the container wrote it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogLine {
    pub at: Timestamp,
    pub text: String,
}

/// Every container's log so far.
#[derive(Default)]
pub struct Logs {
    written: Mutex<HashMap<ContainerId, Written>>,
}

/// A container of one pod (its uid: a new pod of the same name starts a
/// new log).
#[derive(Clone, Debug, Hash, PartialEq, Eq)]
struct ContainerId {
    pod_uid: String,
    container: String,
}

struct Written {
    lines: VecDeque<LogLine>,
    bytes: usize,
    /// Written up to here (exclusive).
    until: Timestamp,
    last_read: Timestamp,
}

impl Logs {
    /// The lines `container` of `pod` has written until `now` (after
    /// `after`, when given), oldest first; what it has not written yet it
    /// writes from `traffic`, what the pod receives now (sim/mesh).
    pub fn read(
        &self,
        pod: &Value,
        container: &str,
        traffic: Option<Traffic>,
        now: Timestamp,
        after: Option<Timestamp>,
    ) -> Vec<LogLine> {
        let id = ContainerId {
            pod_uid: text(pod, "/metadata/uid"),
            container: container.to_string(),
        };
        let mut written = self.written.lock().unwrap_or_else(|p| p.into_inner());
        if !written.contains_key(&id) && written.len() >= CONTAINERS {
            let oldest = written
                .iter()
                .min_by_key(|(_, w)| w.last_read)
                .map(|(k, _)| k.clone());
            if let Some(k) = oldest {
                written.remove(&k);
            }
        }
        let log = written.entry(id.clone()).or_insert_with(|| {
            let started = started_at(pod, container).unwrap_or(now);
            // A long-lived pod's first read writes no more than is kept.
            let rate = traffic.map_or(1.0, |t| t.log_lines_per_second.max(1.0));
            let earliest = now - SignedDuration::from_secs_f64(KEPT as f64 / rate);
            let mut lines = VecDeque::new();
            lines.push_back(LogLine {
                at: started,
                text: start_line(pod, container),
            });
            Written {
                bytes: lines.iter().map(|l: &LogLine| l.text.len()).sum(),
                lines,
                until: started.max(earliest),
                last_read: now,
            }
        });
        log.last_read = now;
        if let Some(traffic) = traffic {
            let key = format!("{}/{}", id.pod_uid, id.container);
            let mut second = log.until.as_second();
            while second < now.as_second() {
                for line in access_lines(&key, second, traffic) {
                    if line.at >= log.until {
                        log.bytes += line.text.len();
                        log.lines.push_back(line);
                    }
                }
                second += 1;
            }
        }
        log.until = log
            .until
            .max(Timestamp::from_second(now.as_second()).unwrap_or(now));
        while log.lines.len() > KEPT || log.bytes > KEPT_BYTES {
            let Some(gone) = log.lines.pop_front() else {
                break;
            };
            log.bytes -= gone.text.len();
        }
        let from = after.map_or(0, |t| log.lines.partition_point(|l| l.at <= t));
        log.lines.range(from..).cloned().collect()
    }
}

/// The lines a container that has restarted wrote before it last exited.
pub fn previous_lines(pod: &Value, container: &str) -> Vec<LogLine> {
    let ended = started_at(pod, container).unwrap_or(Timestamp::UNIX_EPOCH);
    let began = ended - SignedDuration::from_secs(30);
    vec![
        LogLine {
            at: began,
            text: start_line(pod, container),
        },
        LogLine {
            at: ended - SignedDuration::from_secs(1),
            text: "level=error msg=\"exiting: the configuration could not be loaded\"".to_string(),
        },
    ]
}

/// How many times `container` of `pod` has restarted.
pub fn restarts(pod: &Value, container: &str) -> u64 {
    status_of(pod, container)
        .and_then(|s| s.get("restartCount"))
        .and_then(Value::as_u64)
        .unwrap_or(0)
}

fn status_of<'a>(pod: &'a Value, container: &str) -> Option<&'a Value> {
    pod.pointer("/status/containerStatuses")
        .and_then(Value::as_array)?
        .iter()
        .find(|s| s.get("name").and_then(Value::as_str) == Some(container))
}

/// When the container started, else when the pod was made.
fn started_at(pod: &Value, container: &str) -> Option<Timestamp> {
    status_of(pod, container)
        .and_then(|s| s.pointer("/state/running/startedAt"))
        .and_then(Value::as_str)
        .or_else(|| {
            pod.pointer("/metadata/creationTimestamp")
                .and_then(Value::as_str)
        })
        .and_then(|t| t.parse().ok())
}

fn start_line(pod: &Value, container: &str) -> String {
    let image = pod
        .pointer("/spec/containers")
        .and_then(Value::as_array)
        .and_then(|cs| {
            cs.iter()
                .find(|c| c.get("name").and_then(Value::as_str) == Some(container))
        })
        .map(|c| text(c, "/image"))
        .unwrap_or_default();
    format!("level=info msg=\"listening on :8080\" image={image}")
}

/// The sampled requests of one second: each line's status and latency
/// drawn from `traffic`, the same for the same container and second.
fn access_lines(key: &str, second: i64, traffic: Traffic) -> Vec<LogLine> {
    let wanted = traffic.rps.min(traffic.log_lines_per_second);
    let whole = wanted.floor() as u32;
    // A fraction of a line a second: a line in that share of seconds.
    let extra = u32::from(unit(key, second, u32::MAX) < wanted - f64::from(whole));
    let count = whole + extra;
    (0..count)
        .filter_map(|i| {
            let at = Timestamp::from_second(second).ok()?
                + SignedDuration::from_nanos(
                    i64::from(i) * 1_000_000_000 / i64::from(count.max(1)),
                );
            let failed = unit(key, second, i) < traffic.error_rate;
            let (p50, p99) = traffic.latency;
            // Mostly near p50, now and then out to p99; failures are slow.
            let spread = unit(key, second, i + 1000).powi(4);
            let ms = if failed {
                p99 * (1.0 + spread)
            } else {
                p50 * (p99 / p50.max(1.0)).powf(spread)
            };
            let paths = ["/api/items", "/api/items/42", "/api/search?q=canary", "/"];
            let path = paths[(unit(key, second, i + 2000) * paths.len() as f64) as usize % paths.len()];
            let text = if failed {
                format!(
                    "level=error method=GET path={path} status=503 duration_ms={ms:.0} error=\"upstream connect error or disconnect/reset before headers\""
                )
            } else {
                format!("level=info method=GET path={path} status=200 duration_ms={ms:.0}")
            };
            let text = pad(text, traffic.log_line_bytes);
            Some(LogLine { at, text })
        })
        .collect()
}

/// `text` with `bytes=` filler up to `length` (a logger that writes long
/// lines: headers, stack traces).
fn pad(mut text: String, length: usize) -> String {
    if text.len() + 8 < length {
        text.push_str(" filler=");
        let fill = length - text.len();
        text.extend(std::iter::repeat_n('x', fill));
    }
    text
}

/// A number in [0, 1) that is the same for the same arguments.
fn unit(key: &str, second: i64, draw: u32) -> f64 {
    let mut h = DefaultHasher::new();
    (key, second, draw).hash(&mut h);
    (h.finish() >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn traffic(rps: f64, error_rate: f64) -> Traffic {
        Traffic {
            rps,
            error_rate,
            latency: (40.0, 400.0),
            log_lines_per_second: f64::from(LINES_PER_SECOND),
            log_line_bytes: 0,
            cpu_millicores: 20.0,
            memory_mib: 128.0,
        }
    }

    #[test]
    fn a_second_is_the_same_whenever_it_is_written() {
        let a = access_lines("uid/app", 1_800_000_000, traffic(100.0, 0.5));
        let b = access_lines("uid/app", 1_800_000_000, traffic(100.0, 0.5));
        assert_eq!(a, b);
        assert_eq!(a.len(), LINES_PER_SECOND as usize);
    }

    #[test]
    fn failures_show_in_their_share_and_a_trickle_writes_a_trickle() {
        let lines: Vec<LogLine> = (0..2000)
            .flat_map(|s| access_lines("uid/app", 1_800_000_000 + s, traffic(50.0, 0.2)))
            .collect();
        let failed = lines
            .iter()
            .filter(|l| l.text.contains("status=503"))
            .count();
        let share = failed as f64 / lines.len() as f64;
        assert!((0.17..0.23).contains(&share), "{share}");
        let trickle: usize = (0..2000)
            .map(|s| access_lines("uid/app", 1_800_000_000 + s, traffic(0.25, 0.0)).len())
            .sum();
        assert!((400..600).contains(&trickle), "{trickle}");
    }
}
