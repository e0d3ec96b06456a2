//! PURE: what happened to a release between two looks. The recorder keeps a
//! `Tracked` per rollout (stored with the history, so a restart resumes
//! where it was) and turns each new `Release` into facts to write.
//!
//! Times are the cluster's where it gives them (a pause's start and end,
//! a ReplicaSet's creation) and otherwise the recorder's clock moved by
//! the skew those times show, so a 30 s pause lasts 30 s in the history
//! even when the cluster's clock runs ahead of ours.

use serde::{Deserialize, Serialize};

use super::release::{Phase, Release};

/// How a revision ended, or that it has not.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Outcome {
    #[default]
    InProgress,
    Promoted,
    Aborted,
    Degraded,
    Superseded,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::InProgress => "inProgress",
            Outcome::Promoted => "promoted",
            Outcome::Aborted => "aborted",
            Outcome::Degraded => "degraded",
            Outcome::Superseded => "superseded",
        }
    }

    pub fn parse(s: &str) -> Option<Outcome> {
        [
            Outcome::InProgress,
            Outcome::Promoted,
            Outcome::Aborted,
            Outcome::Degraded,
            Outcome::Superseded,
        ]
        .into_iter()
        .find(|o| o.as_str() == s)
    }

    fn of(phase: Phase) -> Outcome {
        match phase {
            Phase::Progressing => Outcome::InProgress,
            Phase::Promoted => Outcome::Promoted,
            Phase::Aborted { .. } => Outcome::Aborted,
            Phase::Degraded => Outcome::Degraded,
        }
    }
}

/// What an event is, as the API names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum EventKind {
    Promote,
    PromoteFull,
    Abort,
    Retry,
    Restart,
    Rollback,
    SetImage,
    Pause,
    Resume,
    Analysis,
}

impl EventKind {
    pub const ALL: [EventKind; 10] = [
        EventKind::Promote,
        EventKind::PromoteFull,
        EventKind::Abort,
        EventKind::Retry,
        EventKind::Restart,
        EventKind::Rollback,
        EventKind::SetImage,
        EventKind::Pause,
        EventKind::Resume,
        EventKind::Analysis,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Promote => "promote",
            EventKind::PromoteFull => "promoteFull",
            EventKind::Abort => "abort",
            EventKind::Retry => "retry",
            EventKind::Restart => "restart",
            EventKind::Rollback => "rollback",
            EventKind::SetImage => "setImage",
            EventKind::Pause => "pause",
            EventKind::Resume => "resume",
            EventKind::Analysis => "analysis",
        }
    }

    pub fn parse(s: &str) -> Option<EventKind> {
        EventKind::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// Who made an event happen.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Via {
    /// Argo's controller by itself: a timed pause ended, an analysis ruled.
    Controller,
    /// A person or tool; the recorder asks whether it came through this
    /// dashboard (then it has a name) or from elsewhere.
    Person,
}

impl Via {
    pub fn as_str(self) -> &'static str {
        match self {
            Via::Controller => "controller",
            Via::Person => "outside",
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum Fact {
    /// A revision seen for the first time (kept as first written).
    Revision {
        revision: i64,
        hash: String,
        images: Vec<String>,
        started_at: i64,
    },
    /// The revision's outcome now; `ended_at` `None` while in progress,
    /// or when it ended before the recorder saw it.
    Outcome {
        revision: i64,
        outcome: Outcome,
        ended_at: Option<i64>,
    },
    StepEntered {
        revision: i64,
        attempt: i64,
        index: i32,
        description: String,
        at: i64,
        weight: Option<i32>,
    },
    StepLeft {
        revision: i64,
        attempt: i64,
        index: i32,
        at: i64,
    },
    /// The timed pause at step `index` turned out to have run to its end
    /// at `at` (the cluster's clock was ahead of ours): it ended then, and
    /// what was written as after it did not begin (or end) before then.
    PauseRanToEnd {
        revision: i64,
        attempt: i64,
        index: i32,
        at: i64,
    },
    /// The router's weight or the observed share during a step.
    StepTraffic {
        revision: i64,
        attempt: i64,
        index: i32,
        weight: Option<i32>,
        observed_percent: Option<f64>,
    },
    Event {
        revision: i64,
        kind: EventKind,
        /// Tells this event from others of its kind in the revision, so a
        /// second look (a restart, a relist, another replica) adds nothing.
        slot: String,
        at: i64,
        via: Via,
        message: String,
    },
}

/// What the recorder remembers of a rollout between looks.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Tracked {
    pub uid: String,
    pub revision: i64,
    pub hash: String,
    pub images: Vec<String>,
    /// Each retry after an abort starts the steps again as a new attempt.
    pub attempt: i64,
    pub outcome: Outcome,
    pub aborted: bool,
    /// The step open now (entered, not left).
    pub step: Option<i32>,
    pub manual_pause: bool,
    /// Boxed: most rollouts are not paused, and every one is remembered.
    pub pause: Option<Box<TrackedPause>>,
    pub restarted_at: String,
    pub weight: Option<i32>,
    pub observed_percent: Option<f64>,
    /// Analysis runs of this revision whose verdict is recorded.
    pub verdicts: Vec<String>,
    /// Hashes of earlier revisions, to tell a rollback from a new template.
    pub hashes: Vec<(i64, String)>,
    /// The cluster's clock minus ours, as its timestamps show (ms).
    pub skew: i64,
    /// A timed pause that ended early by our clock, not yet told apart.
    pub ended_early: Option<Box<EndedEarly>>,
    /// The latest time an event of this rollout is stamped with.
    pub last_event_at: i64,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct EndedEarly {
    pub slot: String,
    pub step: Option<i32>,
    pub until: i64,
    /// When it was seen, in cluster time and in ours.
    pub at: i64,
    pub wall: i64,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct TrackedPause {
    pub reason: String,
    pub since: Option<i64>,
    pub until: Option<i64>,
    pub step: Option<i32>,
}

/// What the recorder keeps in memory of a rollout whose release has
/// settled (nothing open, nothing moving): enough to tell that a look adds
/// nothing. The whole `Tracked` is read back from the database when one
/// does, so 5,000 quiet rollouts cost a few dozen bytes each.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Settled {
    uid: u64,
    revision: i64,
    outcome: Outcome,
    restarted: u64,
    verdicts: usize,
}

impl Tracked {
    pub fn settled(&self) -> Option<Settled> {
        let quiet = self.outcome != Outcome::InProgress
            && self.step.is_none()
            && self.pause.is_none()
            && !self.manual_pause
            && self.ended_early.is_none();
        quiet.then(|| Settled {
            uid: fingerprint(&self.uid),
            revision: self.revision,
            outcome: self.outcome,
            restarted: fingerprint(&self.restarted_at),
            verdicts: self.verdicts.len(),
        })
    }

    /// Whether a later look at the same release can add something: a
    /// timed pause's early end is decided by time passing, not by a change.
    pub fn waits_on_time(&self) -> bool {
        self.ended_early.is_some()
    }
}

impl Settled {
    /// Whether `now` would add nothing to the history.
    pub fn holds(&self, now: &Release) -> bool {
        let outcome = match (self.outcome, Outcome::of(now.phase)) {
            // As `observe` has it: a promoted release stays promoted.
            (Outcome::Promoted, Outcome::InProgress) => Outcome::Promoted,
            (_, o) => o,
        };
        fingerprint(&now.uid) == self.uid
            && now.revision == self.revision
            && outcome == self.outcome
            && fingerprint(&now.restarted_at) == self.restarted
            && now.pause.is_none()
            && !now.manual_pause
            && now.open_step().is_none()
            && now.verdicts.len() <= self.verdicts
    }
}

/// FNV-1a over what is written to it: a stable 64-bit fingerprint.
struct Fnv(u64);

impl Fnv {
    fn new() -> Fnv {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
}

impl std::fmt::Write for Fnv {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        self.0 = s.bytes().fold(self.0, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
        });
        Ok(())
    }
}

/// A stable 64-bit fingerprint of a short string.
fn fingerprint(s: &str) -> u64 {
    let mut f = Fnv::new();
    let _ = std::fmt::Write::write_str(&mut f, s);
    f.0
}

/// A fingerprint of everything `observe` reads of a release: the same
/// fingerprint, the same release, so a look adds nothing (unless the
/// remembered state `waits_on_time`). Taken over its `Debug` form, which
/// shows every field (floats too, which have no `Hash`), streamed without
/// an allocation.
pub fn release_fingerprint(release: &Release) -> u64 {
    let mut f = Fnv::new();
    let _ = std::fmt::Write::write_fmt(&mut f, format_args!("{release:?}"));
    f.0
}

/// Earlier revisions remembered for rollbacks; Argo keeps 10 by default.
const KNOWN_HASHES: usize = 10;
/// Verdicts remembered per revision (one per analysis run).
const VERDICTS: usize = 64;
/// A cluster time further than this from ours is not taken as its clock.
const SKEW_LIMIT: i64 = 24 * 3600 * 1000;
/// A timed pause that ends this close to its end ended by itself.
const TIMER_SLACK: i64 = 1500;
/// How long a timed pause that ended early waits for the cluster's clock
/// to show it ended by itself.
const DECIDE_WITHIN: i64 = 3000;

/// The facts between `before` and `now`, seen at `wall` (our clock, ms),
/// and what to remember next.
pub fn observe(before: Option<&Tracked>, now: &Release, wall: i64) -> (Tracked, Vec<Fact>) {
    let (mut next, facts) = look(before, now, wall);
    for f in &facts {
        if let Fact::Event { at, .. } = f {
            next.last_event_at = next.last_event_at.max(*at);
        }
    }
    (next, facts)
}

fn look(before: Option<&Tracked>, now: &Release, wall: i64) -> (Tracked, Vec<Fact>) {
    let mut facts = Vec::new();
    // The cluster's clock is at least at the latest time it wrote.
    let mut skew = before.map_or(0, |t| t.skew);
    if let Some(c) = now.cluster_now
        && c > wall + skew
        && (c - wall).abs() < SKEW_LIMIT
    {
        skew = c - wall;
    }
    let at = wall + skew;
    let before = before.filter(|t| t.uid == now.uid && now.revision >= t.revision);
    let Some(before) = before else {
        return first_look(now, at, skew);
    };
    let mut next = before.clone();
    next.skew = skew;

    // A timed pause that ended before its time by our clock: a promote,
    // or the cluster's clock is ahead and says so a moment later (its next
    // Event). Decided once the cluster's time passes the end, or after a
    // short wait.
    if let Some(e) = next.ended_early.take() {
        // When it was seen to end, by the cluster's clock as now known: a
        // look that comes late (a replay after an outage, a quiet rollout)
        // is no evidence that the pause ran its time.
        if e.wall + skew >= e.until - TIMER_SLACK {
            facts.push(timer_ended(before.revision, &e.slot, e.step, e.until));
            if let Some(index) = e.step {
                // The step ended at its end, not when our clock saw it.
                facts.push(Fact::PauseRanToEnd {
                    revision: before.revision,
                    attempt: before.attempt,
                    index,
                    at: e.until,
                });
            }
        } else if wall - e.wall < DECIDE_WITHIN && now.revision == before.revision {
            next.ended_early = Some(e);
        } else {
            facts.push(promoted(before.revision, &e.slot, e.step, e.at));
        }
    }

    if now.revision != before.revision {
        if now.hash.is_empty() {
            // Its ReplicaSet is not made yet: look again when it is.
            return (next, facts);
        }
        new_revision(before, now, at, &mut next, &mut facts);
        return (next, facts);
    }

    let l = Look {
        before,
        now,
        at,
        wall,
        rev: now.revision,
        aborted: matches!(now.phase, Phase::Aborted { .. }),
    };
    abort_and_retry(&l, &mut next, &mut facts);
    restart(&l, &mut next, &mut facts);
    let ran_out = pauses(&l, &mut next, &mut facts);
    verdicts(&l, &mut next, &mut facts);
    steps(&l, &mut next, &mut facts, ran_out);
    outcome(&l, &mut next, &mut facts);
    (next, facts)
}

/// One look at a rollout already tracked, at the same revision: what every
/// section of it reads.
#[derive(Clone, Copy)]
struct Look<'a> {
    before: &'a Tracked,
    now: &'a Release,
    /// Now, by the cluster's clock as known.
    at: i64,
    /// Now, by ours.
    wall: i64,
    rev: i64,
    aborted: bool,
}

/// An abort (a person's or the controller's) and a retry.
fn abort_and_retry(l: &Look<'_>, next: &mut Tracked, facts: &mut Vec<Fact>) {
    let Look {
        before,
        now,
        at,
        rev,
        aborted,
        ..
    } = *l;
    if aborted && !before.aborted {
        close_step(next, rev, at, facts);
        let by_controller = matches!(
            now.phase,
            Phase::Aborted {
                by_controller: true
            }
        );
        facts.push(Fact::Event {
            revision: rev,
            kind: EventKind::Abort,
            slot: format!("a{}", before.attempt),
            at,
            via: if by_controller {
                Via::Controller
            } else {
                Via::Person
            },
            message: abort_words(now),
        });
    } else if !aborted && before.aborted && now.phase != Phase::Degraded {
        next.attempt += 1;
        facts.push(Fact::Event {
            revision: rev,
            kind: EventKind::Retry,
            slot: format!("a{}", next.attempt),
            at,
            via: Via::Person,
            message: format!("Retried (attempt {})", next.attempt + 1),
        });
    }
    next.aborted = aborted;
}

/// A restart of the pods.
fn restart(l: &Look<'_>, next: &mut Tracked, facts: &mut Vec<Fact>) {
    let Look {
        before,
        now,
        at,
        rev,
        ..
    } = *l;
    if !now.restarted_at.is_empty() && now.restarted_at != before.restarted_at {
        facts.push(Fact::Event {
            revision: rev,
            kind: EventKind::Restart,
            slot: now.restarted_at.clone(),
            at,
            via: Via::Person,
            message: "Pods restarted".to_string(),
        });
    }
    next.restarted_at = now.restarted_at.clone();
}

/// Pauses: spec.paused is a person's; the controller's pause ends by its
/// timer (resume) or by a promote. When a timed pause ran its time, by the
/// cluster's clock.
fn pauses(l: &Look<'_>, next: &mut Tracked, facts: &mut Vec<Fact>) -> Option<i64> {
    let Look {
        before,
        now,
        at,
        wall,
        rev,
        aborted,
    } = *l;
    if now.manual_pause != before.manual_pause {
        let kind = if now.manual_pause {
            EventKind::Pause
        } else {
            EventKind::Resume
        };
        facts.push(Fact::Event {
            revision: rev,
            kind,
            slot: format!("m{at}"),
            at,
            via: Via::Person,
            message: if now.manual_pause {
                "Paused by a person".to_string()
            } else {
                "Resumed after a person's pause".to_string()
            },
        });
    }
    next.manual_pause = now.manual_pause;
    // A pause ends when it is gone or another has taken its place (the
    // steps between passed unseen).
    // Another pause: at another step, or begun at another time (two
    // pauses can begin at one instant of a clock that stands still).
    let other_pause = match (&before.pause, &now.pause) {
        (Some(b), Some(n)) => b.step != now.open_step() || b.since != n.since,
        _ => false,
    };
    // A pause that began after this one ended was caused by its end: the
    // end is no later than the next pause's start (seen together, the
    // promote would otherwise be listed after the pause it led to).
    let ended_at = if other_pause {
        pause_began(now, at)
    } else {
        at
    };
    // When a timed pause ran its time, by the cluster's clock.
    let mut ran_out = None;
    if let Some(p) = &before.pause
        && (now.pause.is_none() || other_pause)
        && !aborted
    {
        let at = ended_at;
        let slot = pause_slot(before.attempt, p.step);
        match p.until {
            Some(until) if at < until - TIMER_SLACK => {
                next.ended_early = Some(Box::new(EndedEarly {
                    slot,
                    step: p.step,
                    until,
                    at,
                    wall,
                }));
            }
            Some(until) => {
                ran_out = Some(until.min(at));
                facts.push(timer_ended(rev, &slot, p.step, until));
            }
            None => facts.push(promoted(rev, &slot, p.step, at)),
        }
    }
    if let Some(p) = &now.pause
        && (before.pause.is_none() || other_pause)
        && !aborted
    {
        let step = now.open_step();
        facts.push(Fact::Event {
            revision: rev,
            kind: EventKind::Pause,
            slot: pause_slot(next.attempt, step),
            // The cluster stamps whole seconds: a pause seen after an
            // event of an earlier look began after it, not up to a
            // second before.
            at: p.since.map_or(at, |s| s.max(before.last_event_at)),
            via: Via::Controller,
            message: pause_words(now, step, p.until.is_some(), next.attempt),
        });
    }
    next.pause = tracked_pause(now);
    ran_out
}

/// Analysis verdicts, each once.
fn verdicts(l: &Look<'_>, next: &mut Tracked, facts: &mut Vec<Fact>) {
    let Look { now, at, rev, .. } = *l;
    for v in &now.verdicts {
        if next.verdicts.contains(&v.run) {
            continue;
        }
        if next.verdicts.len() >= VERDICTS {
            next.verdicts.remove(0);
        }
        next.verdicts.push(v.run.clone());
        let failing = if v.failing.is_empty() {
            String::new()
        } else {
            format!(
                ": {} failed",
                v.failing
                    .iter()
                    .map(|m| format!("metric {m:?}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        };
        facts.push(Fact::Event {
            revision: rev,
            kind: EventKind::Analysis,
            slot: v.run.clone(),
            at,
            via: Via::Controller,
            message: format!("Analysis {} {}{failing}", v.run, v.status),
        });
    }
}

/// Steps, unless aborted (an abort sends the index back to 0; the steps
/// start again with the retry).
fn steps(l: &Look<'_>, next: &mut Tracked, facts: &mut Vec<Fact>, ran_out: Option<i64>) {
    let Look {
        before,
        now,
        at,
        rev,
        aborted,
        ..
    } = *l;
    let open = if aborted { None } else { now.open_step() };
    if open != before.step {
        let from = before.step;
        let finished = now
            .step_index
            .is_some_and(|i| i as usize >= now.steps.len());
        if let Some(f) = from
            && !aborted
            && before.pause.as_ref().is_none_or(|p| p.step != Some(f))
        {
            // What the step reached (a setWeight step's weight; a pause
            // keeps the weight it held). Once the last step is done the
            // canary is the stable and its weight goes back to 0: the
            // step reached what it held while it ran.
            let (weight, observed_percent) = if finished {
                let set = now.configured_weight(f);
                (set.or(before.weight), before.observed_percent)
            } else {
                (now.weight, now.observed_percent)
            };
            facts.push(Fact::StepTraffic {
                revision: rev,
                attempt: next.attempt,
                index: f,
                weight,
                observed_percent,
            });
        }
        // A step that pauses was entered when its pause began, and a
        // timed pause left when its time ran out, by the cluster's clock:
        // a late look neither shortens nor stretches a 30 s pause.
        let entered = match (&now.pause, open) {
            (Some(_), Some(_)) if !aborted => pause_began(now, at),
            _ => ran_out.unwrap_or(at),
        };
        close_step(next, rev, entered, facts);
        // Steps passed between two looks were entered and left then.
        let passed_to = match (from, open) {
            (Some(_), Some(t)) => Some(t),
            (Some(_), None) if finished && !aborted && before.pause.is_some() => {
                Some(now.steps.len() as i32)
            }
            (Some(f), None) if finished && !aborted && (f as usize) + 2 == now.steps.len() => {
                Some(now.steps.len() as i32)
            }
            _ => None,
        };
        // A revision whose steps began before its first step was seen (its
        // status still at the last revision's end): from the first.
        let (from, passed_to) = match (from, open) {
            (None, Some(t)) if t > 0 => (Some(-1), Some(t)),
            _ => (from, passed_to),
        };
        if let (Some(f), Some(t)) = (from, passed_to) {
            for i in (f + 1)..t {
                pass_step(next, now, i, entered, facts);
            }
        }
        if let (Some(f), None) = (from, open)
            && !aborted
            && now
                .step_index
                .is_some_and(|i| i as usize >= now.steps.len())
            && (f as usize) + 2 < now.steps.len()
            && now.pause.is_none()
            && before.pause.is_none()
        {
            facts.push(Fact::Event {
                revision: rev,
                kind: EventKind::PromoteFull,
                slot: format!("a{}", next.attempt),
                at,
                via: Via::Person,
                message: format!("Promoted fully from step {}", f + 1),
            });
        }
        if let Some(i) = open {
            enter_step(next, now, i, entered, facts);
        }
    } else if let Some(i) = open
        && (now.weight != before.weight || now.observed_percent != before.observed_percent)
    {
        facts.push(Fact::StepTraffic {
            revision: rev,
            attempt: next.attempt,
            index: i,
            weight: now.weight,
            observed_percent: now.observed_percent,
        });
    }
    next.weight = now.weight;
    next.observed_percent = now.observed_percent;
}

/// Outcome. A promoted release stays promoted: its pods restarting, a
/// scale, or the next update before it has its revision number make the
/// rollout Progressing, not this release.
fn outcome(l: &Look<'_>, next: &mut Tracked, facts: &mut Vec<Fact>) {
    let Look {
        before,
        now,
        at,
        rev,
        ..
    } = *l;
    let outcome = match (before.outcome, Outcome::of(now.phase)) {
        (Outcome::Promoted, Outcome::InProgress) => Outcome::Promoted,
        (_, o) => o,
    };
    if outcome != before.outcome {
        facts.push(Fact::Outcome {
            revision: rev,
            outcome,
            ended_at: (outcome != Outcome::InProgress).then_some(at),
        });
        next.outcome = outcome;
    }
}

/// A rollout the recorder has no memory of (new, or from before it
/// recorded): its revision as it stands, nothing it cannot know.
fn first_look(now: &Release, at: i64, skew: i64) -> (Tracked, Vec<Fact>) {
    let mut facts = Vec::new();
    if let Some(s) = &now.stable {
        // The release before this one: fully promoted, when is not known.
        facts.push(Fact::Revision {
            revision: s.revision,
            hash: s.hash.clone(),
            images: s.images.clone(),
            started_at: s.created_at.unwrap_or(at).min(at),
        });
        facts.push(Fact::Outcome {
            revision: s.revision,
            outcome: Outcome::Promoted,
            ended_at: None,
        });
    }
    facts.push(Fact::Revision {
        revision: now.revision,
        hash: now.hash.clone(),
        images: now.images.clone(),
        started_at: now.created_at.unwrap_or(at).min(at),
    });
    let outcome = Outcome::of(now.phase);
    let mut next = Tracked {
        uid: now.uid.clone(),
        revision: now.revision,
        hash: now.hash.clone(),
        images: now.images.clone(),
        outcome,
        aborted: matches!(now.phase, Phase::Aborted { .. }),
        manual_pause: now.manual_pause,
        pause: tracked_pause(now),
        restarted_at: now.restarted_at.clone(),
        weight: now.weight,
        observed_percent: now.observed_percent,
        // Verdicts already given are history before ours.
        verdicts: now.verdicts.iter().map(|v| v.run.clone()).collect(),
        hashes: known_hashes(&[], now),
        skew,
        ..Tracked::default()
    };
    if outcome != Outcome::InProgress {
        // It ended before we looked: when is not known.
        facts.push(Fact::Outcome {
            revision: now.revision,
            outcome,
            ended_at: None,
        });
    } else if let Some(i) = now.open_step() {
        enter_step(&mut next, now, i, pause_began(now, at), &mut facts);
    }
    (next, facts)
}

fn new_revision(
    before: &Tracked,
    now: &Release,
    at: i64,
    next: &mut Tracked,
    facts: &mut Vec<Fact>,
) {
    close_step(next, before.revision, at, facts);
    if before.outcome == Outcome::InProgress {
        facts.push(Fact::Outcome {
            revision: before.revision,
            outcome: Outcome::Superseded,
            ended_at: Some(at),
        });
    }
    let started_at = now
        .created_at
        .filter(|c| *c <= at && *c >= at - 60_000)
        .unwrap_or(at);
    facts.push(Fact::Revision {
        revision: now.revision,
        hash: now.hash.clone(),
        images: now.images.clone(),
        started_at,
    });
    let earlier = before
        .hashes
        .iter()
        .chain(std::iter::once(&(before.revision, before.hash.clone())))
        .filter(|(_, h)| !h.is_empty() && *h == now.hash)
        .map(|(r, _)| *r)
        .max();
    if let Some(r) = earlier {
        facts.push(Fact::Event {
            revision: now.revision,
            kind: EventKind::Rollback,
            slot: String::new(),
            at,
            via: Via::Person,
            message: format!("Rolled back to the template of revision {r}"),
        });
    } else if now.images != before.images && !now.images.is_empty() {
        facts.push(Fact::Event {
            revision: now.revision,
            kind: EventKind::SetImage,
            slot: String::new(),
            at,
            via: Via::Person,
            message: format!("Image {}", now.images.join(", ")),
        });
    }
    let hashes = known_hashes(&before.hashes, now);
    *next = Tracked {
        uid: now.uid.clone(),
        revision: now.revision,
        hash: now.hash.clone(),
        images: now.images.clone(),
        outcome: Outcome::InProgress,
        aborted: false,
        manual_pause: now.manual_pause,
        pause: tracked_pause(now),
        restarted_at: now.restarted_at.clone(),
        weight: now.weight,
        observed_percent: now.observed_percent,
        verdicts: Vec::new(),
        hashes: {
            let mut h = hashes;
            if !before.hash.is_empty() && !h.iter().any(|(r, _)| *r == before.revision) {
                h.push((before.revision, before.hash.clone()));
            }
            while h.len() > KNOWN_HASHES {
                h.remove(0);
            }
            h
        },
        skew: next.skew,
        ..Tracked::default()
    };
    let outcome = Outcome::of(now.phase);
    if outcome != Outcome::InProgress {
        // A rollback to stable skips the steps and is promoted at once.
        facts.push(Fact::Outcome {
            revision: now.revision,
            outcome,
            ended_at: Some(at),
        });
        next.outcome = outcome;
        next.aborted = matches!(now.phase, Phase::Aborted { .. });
    } else if let Some(i) = now.open_step() {
        // Steps the rollout passed before this look.
        for passed in 0..i {
            pass_step(next, now, passed, at, facts);
        }
        enter_step(next, now, i, at, facts);
    }
}

/// Earlier revisions' hashes, those the rollout still has first.
fn known_hashes(before: &[(i64, String)], now: &Release) -> Vec<(i64, String)> {
    let mut h: Vec<(i64, String)> = before.to_vec();
    for (r, hash) in &now.known {
        if *r != now.revision && !hash.is_empty() && !h.iter().any(|(kr, _)| kr == r) {
            h.push((*r, hash.clone()));
        }
    }
    h.sort_by_key(|(r, _)| *r);
    while h.len() > KNOWN_HASHES {
        h.remove(0);
    }
    h
}

/// The controller's pause as remembered: boxed, most rollouts have none.
fn tracked_pause(now: &Release) -> Option<Box<TrackedPause>> {
    now.pause.as_ref().map(|p| {
        Box::new(TrackedPause {
            reason: p.reason.clone(),
            since: p.since,
            until: p.until,
            step: now.open_step(),
        })
    })
}

fn enter_step(next: &mut Tracked, now: &Release, index: i32, at: i64, facts: &mut Vec<Fact>) {
    enter(
        next,
        now,
        index,
        at,
        (now.weight, now.observed_percent),
        facts,
    );
}

/// A step the rollout entered and left between two looks: it reached the
/// weight its steps set (what traffic it saw is not known).
fn pass_step(next: &mut Tracked, now: &Release, index: i32, at: i64, facts: &mut Vec<Fact>) {
    let weight = now.configured_weight(index).or(now.weight);
    enter(next, now, index, at, (weight, None), facts);
    close_step(next, now.revision, at, facts);
}

fn enter(
    next: &mut Tracked,
    now: &Release,
    index: i32,
    at: i64,
    (weight, observed_percent): (Option<i32>, Option<f64>),
    facts: &mut Vec<Fact>,
) {
    let description = usize::try_from(index)
        .ok()
        .and_then(|i| now.steps.get(i))
        .cloned()
        .unwrap_or_default();
    facts.push(Fact::StepEntered {
        revision: now.revision,
        attempt: next.attempt,
        index,
        description,
        at,
        weight,
    });
    if observed_percent.is_some() {
        facts.push(Fact::StepTraffic {
            revision: now.revision,
            attempt: next.attempt,
            index,
            weight,
            observed_percent,
        });
    }
    next.step = Some(index);
}

/// When `now`'s pause began by the cluster's clock, never after `at` (when
/// it was seen); `at` without a pause or its start.
fn pause_began(now: &Release, at: i64) -> i64 {
    now.pause
        .as_ref()
        .and_then(|p| p.since)
        .map_or(at, |s| s.min(at))
}

fn close_step(next: &mut Tracked, revision: i64, at: i64, facts: &mut Vec<Fact>) {
    if let Some(index) = next.step.take() {
        facts.push(Fact::StepLeft {
            revision,
            attempt: next.attempt,
            index,
            at,
        });
    }
}

fn step_words(step: Option<i32>) -> String {
    step.map_or(String::new(), |s| format!(" at step {}", s + 1))
}

fn timer_ended(revision: i64, slot: &str, step: Option<i32>, until: i64) -> Fact {
    Fact::Event {
        revision,
        kind: EventKind::Resume,
        slot: slot.to_string(),
        at: until,
        via: Via::Controller,
        message: format!("The timed pause{} ended", step_words(step)),
    }
}

fn promoted(revision: i64, slot: &str, step: Option<i32>, at: i64) -> Fact {
    Fact::Event {
        revision,
        kind: EventKind::Promote,
        slot: slot.to_string(),
        at,
        via: Via::Person,
        message: format!("Promoted{}", step_words(step)),
    }
}

fn pause_slot(attempt: i64, step: Option<i32>) -> String {
    match step {
        Some(s) => format!("a{attempt}/s{s}"),
        None => format!("a{attempt}"),
    }
}

/// A pause in words; after a retry with the attempt (`Retried (attempt
/// 2)` came before it), so the same pause of two attempts reads apart.
fn pause_words(now: &Release, step: Option<i32>, timed: bool, attempt: i64) -> String {
    let at = step_words(step);
    let reason = now.pause.as_ref().map_or("", |p| p.reason.as_str());
    let words = match (reason, timed) {
        ("InconclusiveAnalysisRun", _) => format!("Paused{at}: the analysis was inconclusive"),
        ("InconclusiveExperiment", _) => format!("Paused{at}: the experiment was inconclusive"),
        (_, true) => format!("Paused{at} for a set time"),
        (_, false) => format!("Paused{at} until promoted"),
    };
    match attempt {
        0 => words,
        a => format!("{words} (attempt {})", a + 1),
    }
}

fn abort_words(now: &Release) -> String {
    // "RolloutAborted: Rollout aborted update to revision N[: why]"
    let why = now
        .message
        .split_once(": ")
        .and_then(|(_, rest)| rest.split_once(": "))
        .map(|(_, why)| why);
    match why {
        Some(why) => format!("Aborted by the controller: {why}"),
        None => "Aborted".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::super::release::Pause;
    use super::*;

    const S: i64 = 1000;
    const STEPS: [&str; 5] = [
        "Set weight 20%",
        "Pause until promoted",
        "Set weight 50%",
        "Pause 30s",
        "Set weight 100%",
    ];

    /// A promote at the first pause seen together with the 30 s pause
    /// that follows: the steps between are filled in.
    const PROMOTED_ON_TO_THE_TIMED_PAUSE: [&str; 6] = [
        "promote by outside",
        "pause by controller",
        "leave 1",
        "enter 2",
        "leave 2",
        "enter 3",
    ];

    fn release(revision: i64, step: Option<i32>, phase: Phase) -> Release {
        Release {
            uid: "u1".into(),
            revision,
            hash: format!("h{revision}"),
            images: vec![format!("app:v{revision}")],
            phase,
            step_index: step,
            steps: STEPS.iter().map(|s| s.to_string()).collect(),
            step_weights: vec![Some(20), None, Some(50), None, Some(100)],
            known: (1..=revision).map(|r| (r, format!("h{r}"))).collect(),
            ..Release::default()
        }
    }

    fn paused(mut r: Release, since: i64, until: Option<i64>) -> Release {
        r.pause = Some(Pause {
            reason: "CanaryPauseStep".into(),
            since: Some(since),
            until,
        });
        r.cluster_now = Some(since);
        r
    }

    /// The facts in words, without traffic updates.
    fn kinds(facts: &[Fact]) -> Vec<String> {
        facts
            .iter()
            .filter(|f| !matches!(f, Fact::StepTraffic { .. }))
            .map(|f| match f {
                Fact::Revision { revision, .. } => format!("revision {revision}"),
                Fact::Outcome { outcome, .. } => format!("outcome {}", outcome.as_str()),
                Fact::StepEntered { index, .. } => format!("enter {index}"),
                Fact::StepLeft { index, .. } => format!("leave {index}"),
                Fact::PauseRanToEnd { index, .. } => format!("ran to its end {index}"),
                Fact::StepTraffic { .. } => unreachable!("filtered out"),
                Fact::Event { kind, via, .. } => format!("{} by {}", kind.as_str(), via.as_str()),
            })
            .collect()
    }

    /// Feeds `states` at the given times; returns each look's facts.
    fn run(states: Vec<(i64, Release)>) -> (Tracked, Vec<Vec<String>>, Vec<Fact>) {
        let mut t: Option<Tracked> = None;
        let mut out = Vec::new();
        let mut all = Vec::new();
        for (at, r) in states {
            let (next, facts) = observe(t.as_ref(), &r, at);
            out.push(kinds(&facts));
            all.extend(facts);
            t = Some(next);
        }
        (t.unwrap_or_default(), out, all)
    }

    #[test]
    fn the_seed_release_is_five_steps_a_promote_a_timed_pause_and_promoted() {
        let (t, looks, all) = run(vec![
            (0, release(1, Some(5), Phase::Promoted)),
            (10 * S, release(2, Some(0), Phase::Progressing)),
            (
                12 * S,
                paused(release(2, Some(1), Phase::Progressing), 12 * S, None),
            ),
            (40 * S, release(2, Some(1), Phase::Progressing)),
            (41 * S, release(2, Some(2), Phase::Progressing)),
            (
                43 * S,
                paused(
                    release(2, Some(3), Phase::Progressing),
                    43 * S,
                    Some(73 * S),
                ),
            ),
            (73 * S, release(2, Some(4), Phase::Progressing)),
            (75 * S, release(2, Some(5), Phase::Promoted)),
        ]);
        assert_eq!(looks[0], ["revision 1", "outcome promoted"]);
        assert_eq!(looks[1], ["revision 2", "setImage by outside", "enter 0"]);
        assert_eq!(looks[2], ["pause by controller", "leave 0", "enter 1"]);
        assert_eq!(looks[3], ["promote by outside"]);
        assert_eq!(looks[4], ["leave 1", "enter 2"]);
        assert_eq!(looks[5], ["pause by controller", "leave 2", "enter 3"]);
        assert_eq!(looks[6], ["resume by controller", "leave 3", "enter 4"]);
        assert_eq!(looks[7], ["leave 4", "outcome promoted"]);
        assert_eq!(t.outcome, Outcome::Promoted);
        assert_eq!(t.step, None);
        let left_3 = all.iter().find_map(|f| match f {
            Fact::StepLeft { index: 3, at, .. } => Some(*at),
            _ => None,
        });
        assert_eq!(left_3, Some(73 * S));
    }

    #[test]
    fn a_revision_superseded_mid_release_ends_when_the_next_one_is_seen() {
        let (_, _, all) = run(vec![
            (S, paused(release(2, Some(1), Phase::Progressing), S, None)),
            (20 * S, release(3, Some(0), Phase::Progressing)),
        ]);
        assert!(
            all.contains(&Fact::Outcome {
                revision: 2,
                outcome: Outcome::Superseded,
                ended_at: Some(20 * S),
            }),
            "{all:?}"
        );
    }

    #[test]
    fn steps_passed_between_looks_reached_the_weight_they_set() {
        // From the 30 s pause straight to promoted: the status then says
        // weight 0 (the canary is the stable), the last step set 100%.
        let (_, _, all) = run(vec![
            (
                S,
                paused(release(2, Some(3), Phase::Progressing), S, Some(31 * S)),
            ),
            (32 * S, {
                let mut r = release(2, Some(5), Phase::Promoted);
                r.weight = Some(0);
                r
            }),
        ]);
        let reached: Vec<(i32, Option<i32>)> = all
            .iter()
            .filter_map(|f| match f {
                Fact::StepEntered { index, weight, .. } => Some((*index, *weight)),
                _ => None,
            })
            .collect();
        assert_eq!(reached, [(3, None), (4, Some(100))]);
    }

    #[test]
    fn a_timed_pause_seen_late_still_lasted_its_thirty_seconds() {
        let (_, _, all) = run(vec![
            (0, release(2, Some(2), Phase::Progressing)),
            (
                S,
                paused(release(2, Some(3), Phase::Progressing), S, Some(31 * S)),
            ),
            // Seen 3 s after its time ran out (a busy or recovering look).
            (34 * S, {
                let mut r = release(2, Some(4), Phase::Progressing);
                r.cluster_now = Some(34 * S);
                r
            }),
        ]);
        let time = |want: fn(&Fact) -> Option<i64>| all.iter().find_map(want);
        let entered = time(|f| match f {
            Fact::StepEntered { index: 3, at, .. } => Some(*at),
            _ => None,
        });
        let left = time(|f| match f {
            Fact::StepLeft { index: 3, at, .. } => Some(*at),
            _ => None,
        });
        assert_eq!((entered, left), (Some(S), Some(31 * S)));
    }

    #[test]
    fn a_pause_stamped_in_whole_seconds_is_not_listed_before_the_promote_that_led_to_it() {
        // Promoted at 10.4 s and seen at step 2; the next pause's start is
        // written as 10 s (the cluster's stamps are whole seconds).
        let (_, _, all) = run(vec![
            (S, paused(release(2, Some(1), Phase::Progressing), S, None)),
            (10 * S + 400, release(2, Some(2), Phase::Progressing)),
            (
                10 * S + 900,
                paused(
                    release(2, Some(3), Phase::Progressing),
                    10 * S,
                    Some(40 * S),
                ),
            ),
        ]);
        let at = |kind: EventKind, step: &str| {
            all.iter().find_map(|f| match f {
                Fact::Event {
                    kind: k,
                    at,
                    message,
                    ..
                } if *k == kind && message.contains(step) => Some(*at),
                _ => None,
            })
        };
        let promoted = at(EventKind::Promote, "step 2").expect("the promote");
        let paused = at(EventKind::Pause, "step 4").expect("the next pause");
        assert_eq!(promoted, 10 * S + 400);
        assert!(
            paused >= promoted,
            "pause at {paused}, promote at {promoted}"
        );
    }

    #[test]
    fn a_cluster_clock_ahead_still_gives_the_timed_pause_its_thirty_seconds() {
        // The cluster's clock jumps 30 s (a test moving the sim's clock):
        // the pause ends "early" by ours; its next Event shows the time.
        let mut after = release(2, Some(4), Phase::Progressing);
        let (_, looks, all) = run(vec![
            (0, release(2, Some(2), Phase::Progressing)),
            (
                S,
                paused(release(2, Some(3), Phase::Progressing), S, Some(31 * S)),
            ),
            (2 * S, release(2, Some(4), Phase::Progressing)),
            (2 * S + 50, {
                after.cluster_now = Some(31 * S);
                after.weight = Some(100);
                after
            }),
        ]);
        assert_eq!(looks[2], ["leave 3", "enter 4"], "not decided yet");
        assert_eq!(looks[3][0], "resume by controller");
        assert!(!all.iter().any(|f| matches!(
            f,
            Fact::Event {
                kind: EventKind::Promote,
                ..
            }
        )));
        let resumed_at = all.iter().find_map(|f| match f {
            Fact::Event {
                kind: EventKind::Resume,
                at,
                ..
            } => Some(*at),
            _ => None,
        });
        assert_eq!(resumed_at, Some(31 * S));
        assert!(
            all.contains(&Fact::PauseRanToEnd {
                revision: 2,
                attempt: 0,
                index: 3,
                at: 31 * S
            }),
            "the pause ran to its end, and what followed began then"
        );
    }

    #[test]
    fn a_timed_pause_promoted_early_is_a_promote_once_the_wait_is_over() {
        let (_, looks, _) = run(vec![
            (
                0,
                paused(release(2, Some(3), Phase::Progressing), 0, Some(30 * S)),
            ),
            (5 * S, release(2, Some(4), Phase::Progressing)),
            (9 * S, {
                let mut r = release(2, Some(4), Phase::Progressing);
                r.weight = Some(100);
                r
            }),
        ]);
        assert_eq!(looks[1], ["leave 3", "enter 4"]);
        assert_eq!(looks[2][0], "promote by outside");
    }

    #[test]
    fn a_timed_pause_promoted_early_and_looked_at_late_is_still_a_promote() {
        // The look after the early end comes long after the pause's end
        // (a replay after an outage, a rollout that stays put).
        let (_, looks, _) = run(vec![
            (
                0,
                paused(release(2, Some(3), Phase::Progressing), 0, Some(30 * S)),
            ),
            (5 * S, release(2, Some(4), Phase::Progressing)),
            (60 * S, release(2, Some(4), Phase::Progressing)),
        ]);
        assert_eq!(looks[2][0], "promote by outside");
    }

    #[test]
    fn abort_then_retry_starts_a_second_attempt() {
        let aborted = Phase::Aborted {
            by_controller: false,
        };
        let (t, looks, _) = run(vec![
            (0, paused(release(2, Some(1), Phase::Progressing), 0, None)),
            (5 * S, release(2, Some(0), aborted)),
            (9 * S, release(2, Some(0), Phase::Progressing)),
        ]);
        assert_eq!(looks[1], ["leave 1", "abort by outside", "outcome aborted"]);
        assert_eq!(
            looks[2],
            ["retry by outside", "enter 0", "outcome inProgress"]
        );
        assert_eq!(t.attempt, 1);
    }

    #[test]
    fn an_abort_by_failed_analysis_is_the_controllers_with_its_reason() {
        let mut r = release(
            2,
            Some(0),
            Phase::Aborted {
                by_controller: true,
            },
        );
        r.message =
            "RolloutAborted: Rollout aborted update to revision 2: metric \"web\" assessed Failed"
                .into();
        let (_, _, all) = run(vec![(0, release(2, Some(1), Phase::Progressing)), (S, r)]);
        let abort = all.iter().find_map(|f| match f {
            Fact::Event {
                kind: EventKind::Abort,
                via,
                message,
                ..
            } => Some((*via, message.clone())),
            _ => None,
        });
        assert_eq!(
            abort,
            Some((
                Via::Controller,
                "Aborted by the controller: metric \"web\" assessed Failed".into()
            ))
        );
    }

    #[test]
    fn a_new_revision_with_an_earlier_template_is_a_rollback_and_supersedes() {
        let mut back = release(3, Some(0), Phase::Progressing);
        back.hash = "h1".into();
        let (_, looks, _) = run(vec![
            (0, release(2, Some(2), Phase::Progressing)),
            (S, back),
        ]);
        assert_eq!(
            looks[1],
            [
                "leave 2",
                "outcome superseded",
                "revision 3",
                "rollback by outside",
                "enter 0"
            ]
        );
    }

    #[test]
    fn steps_passed_between_two_looks_are_entered_and_left_then() {
        let (_, looks, _) = run(vec![
            (0, paused(release(2, Some(1), Phase::Progressing), 0, None)),
            (
                5 * S,
                paused(release(2, Some(3), Phase::Progressing), 5 * S, Some(35 * S)),
            ),
        ]);
        assert_eq!(looks[1], PROMOTED_ON_TO_THE_TIMED_PAUSE);
    }

    #[test]
    fn a_setweight_step_keeps_the_weight_it_reached() {
        let mut at_20 = paused(release(2, Some(1), Phase::Progressing), S, None);
        at_20.weight = Some(20);
        let (_, _, all) = run(vec![
            (0, release(2, Some(0), Phase::Progressing)),
            (S, at_20),
        ]);
        assert!(all.contains(&Fact::StepTraffic {
            revision: 2,
            attempt: 0,
            index: 0,
            weight: Some(20),
            observed_percent: None
        }));
    }

    #[test]
    fn a_first_look_mid_release_records_the_stable_revision_as_promoted_too() {
        let mut r = paused(release(2, Some(1), Phase::Progressing), 0, None);
        r.stable = Some(super::super::release::EarlierRevision {
            revision: 1,
            hash: "h1".into(),
            images: vec!["app:v1".into()],
            created_at: Some(-100 * S),
        });
        let (_, facts) = observe(None, &r, S);
        assert_eq!(
            kinds(&facts),
            ["revision 1", "outcome promoted", "revision 2", "enter 1"]
        );
        assert!(facts.contains(&Fact::Outcome {
            revision: 1,
            outcome: Outcome::Promoted,
            ended_at: None
        }));
    }

    #[test]
    fn a_promoted_release_stays_promoted_when_the_next_update_begins() {
        let (_, looks, _) = run(vec![
            (0, release(1, Some(5), Phase::Promoted)),
            // The new template is there, its revision number not yet.
            (S, release(1, Some(5), Phase::Progressing)),
            (2 * S, release(2, Some(0), Phase::Progressing)),
        ]);
        assert!(looks[1].is_empty(), "{:?}", looks[1]);
        assert!(
            !looks[2].contains(&"outcome superseded".to_string()),
            "{:?}",
            looks[2]
        );
    }

    #[test]
    fn a_revision_seen_before_its_steps_began_gets_them_all() {
        let mut not_yet = release(3, Some(5), Phase::Progressing);
        not_yet.known.push((3, "h3".into()));
        let (_, looks, _) = run(vec![
            (0, release(2, Some(5), Phase::Promoted)),
            (S, not_yet),
            (
                2 * S,
                paused(release(3, Some(1), Phase::Progressing), 2 * S, None),
            ),
        ]);
        assert_eq!(
            looks[2],
            ["pause by controller", "enter 0", "leave 0", "enter 1"]
        );
    }

    #[test]
    fn two_pauses_begun_at_one_instant_are_two_pauses() {
        let (_, looks, _) = run(vec![
            (0, paused(release(2, Some(1), Phase::Progressing), 0, None)),
            (
                S,
                paused(release(2, Some(3), Phase::Progressing), 0, Some(30 * S)),
            ),
        ]);
        assert_eq!(looks[1], PROMOTED_ON_TO_THE_TIMED_PAUSE);
    }

    #[test]
    fn a_settled_release_is_remembered_small_until_it_moves() {
        let promoted = release(2, Some(5), Phase::Promoted);
        let (t, _) = observe(None, &promoted, 0);
        let settled = t.settled().expect("a promoted release has settled");
        let mut same = promoted.clone();
        same.weight = Some(0);
        assert!(settled.holds(&same), "a weight change adds nothing");
        assert!(
            settled.holds(&release(2, Some(5), Phase::Progressing)),
            "a promoted release stays promoted"
        );
        let mut restarted = promoted.clone();
        restarted.restarted_at = "2026-11-30T10:00:00Z".into();
        assert!(!settled.holds(&restarted));
        assert!(!settled.holds(&release(3, Some(0), Phase::Progressing)));
        assert!(!settled.holds(&release(2, Some(5), Phase::Degraded)));
        let paused_now = paused(release(2, Some(1), Phase::Progressing), 0, None);
        let (p, _) = observe(None, &paused_now, 0);
        assert_eq!(p.settled(), None, "a release at its pause is not settled");
    }

    #[test]
    fn seeing_the_same_state_again_records_nothing() {
        let r = paused(release(2, Some(1), Phase::Progressing), 0, None);
        let (t, _) = observe(None, &r, 0);
        let (again, facts) = observe(Some(&t), &r, 5 * S);
        assert!(facts.is_empty());
        assert_eq!(again, t);
    }

    #[test]
    fn an_unchanged_release_looked_at_later_adds_nothing() {
        // What lets the recorder keep only a release's fingerprint.
        let mut aborted = release(
            2,
            Some(1),
            Phase::Aborted {
                by_controller: true,
            },
        );
        aborted.message = "RolloutAborted: metric error-rate failed".into();
        let mut ahead = release(2, Some(3), Phase::Progressing);
        ahead.cluster_now = Some(40 * S);
        let states = [
            release(2, Some(0), Phase::Progressing),
            paused(release(2, Some(1), Phase::Progressing), S, None),
            paused(release(2, Some(3), Phase::Progressing), 2 * S, Some(32 * S)),
            ahead,
            release(2, Some(5), Phase::Promoted),
            aborted,
        ];
        let mut before: Option<Tracked> = None;
        for (i, state) in states.iter().enumerate() {
            let wall = i as i64 * 10 * S;
            let (t, _) = observe(before.as_ref(), state, wall);
            let (again, facts) = observe(Some(&t), state, wall + 3600 * S);
            if !t.waits_on_time() {
                assert!(facts.is_empty(), "state {i}: {facts:?}");
                assert_eq!(again, t, "state {i}");
            }
            before = Some(t);
        }
    }

    #[test]
    fn a_release_fingerprint_changes_with_any_field() {
        let r = paused(release(2, Some(1), Phase::Progressing), S, None);
        assert_eq!(release_fingerprint(&r), release_fingerprint(&r.clone()));
        let mut weight = r.clone();
        weight.weight = Some(21);
        let mut share = r.clone();
        share.observed_percent = Some(19.0);
        let mut message = r.clone();
        message.message = "paused".into();
        let mut clock = r.clone();
        clock.cluster_now = Some(2 * S);
        let prints: std::collections::HashSet<u64> = [&r, &weight, &share, &message, &clock]
            .iter()
            .map(|r| release_fingerprint(r))
            .collect();
        assert_eq!(prints.len(), 5);
    }

    #[test]
    fn a_restart_and_an_analysis_verdict_are_recorded_once() {
        let mut r = release(2, Some(2), Phase::Progressing);
        let (t, _) = observe(None, &r, 0);
        r.restarted_at = "2026-11-30T10:00:00Z".into();
        r.verdicts = vec![super::super::release::Verdict {
            run: "web-2-1".into(),
            status: "Failed".into(),
            failing: vec!["success-rate".into()],
        }];
        let (t, facts) = observe(Some(&t), &r, S);
        assert_eq!(
            kinds(&facts),
            ["restart by outside", "analysis by controller"]
        );
        assert!(
            matches!(&facts[1], Fact::Event { message, .. } if message == "Analysis web-2-1 Failed: metric \"success-rate\" failed")
        );
        let (_, facts) = observe(Some(&t), &r, 2 * S);
        assert!(facts.is_empty());
    }
}
