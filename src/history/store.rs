//! The history database: SQLite (a file, or memory for the demo) or
//! PostgreSQL (several replicas), through sqlx's `any` driver so one query
//! text serves both. Versioned migrations per database; every call has a
//! deadline.

use std::borrow::Cow;
use std::collections::HashMap;
use std::time::Duration;

use futures_util::future::BoxFuture;
use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::migrate::{Migration, MigrationSource, MigrationType, Migrator};
use sqlx::{AnyPool, Row};

use super::facts::{EventKind, Fact, Outcome, Tracked, Via};
use super::records::{EventRecord, Gap, ReleaseRow, RevisionRecord, StepRecord};
use crate::model::RolloutKey;

/// A step is left at `$1` (the latest time seen wins); `$2`–`$4` name the
/// step's row as `on_step` binds them.
/// A step is not left before it was entered: the cluster's whole-second
/// stamps can put a pause's start a moment before our look at the step
/// that came before it.
const LEAVE_STEP: &str = "UPDATE history_steps
     SET left_at = CASE WHEN entered_at > $1 THEN entered_at ELSE $1 END
     WHERE revision_id = $2 AND attempt = $3 AND step_index = $4
       AND (left_at IS NULL OR left_at < $1)";

/// No database call waits longer than this.
const CALL_TIMEOUT: Duration = Duration::from_secs(10);
/// At most this many action–effect pairs are matched after one write.
const PAIRS_AT_ONCE: usize = 16;
/// How long after a person's action its effect may be seen and credited.
pub const ATTRIBUTION_WINDOW_MS: i64 = 120_000;
/// How long before its effect was seen an action may have been sent (the
/// effect can be seen before the replica that sent it writes who did).
const EFFECT_BEFORE_ACTION_MS: i64 = 2_000;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{0}")]
    Url(String),
    #[error("the history database: {0}")]
    Db(#[from] sqlx::Error),
    #[error("the history database's schema: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("the history database did not answer within {} s", CALL_TIMEOUT.as_secs())]
    Timeout,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A connected, migrated history database, as one cluster's history
/// reads and writes it.
#[derive(Clone, Debug)]
pub struct Store {
    pub(super) pool: AnyPool,
    pub backend: Backend,
    /// Whose rows: a cluster's name as in URLs, `""` for the dashboard's
    /// own (first) cluster.
    pub(super) cluster: String,
}

/// One rollout's changes to write, with what the recorder remembers.
#[derive(Clone, Debug)]
pub struct Batch {
    pub key: RolloutKey,
    pub tracked: Tracked,
    pub facts: Vec<Fact>,
    /// Our clock when they were seen (ms).
    pub seen_at: i64,
}

/// A person's action sent through this dashboard.
#[derive(Clone, Debug)]
pub struct Attribution {
    pub key: RolloutKey,
    pub kind: EventKind,
    /// `None` when no one signed in (`--auth none`).
    pub by: Option<String>,
    /// When it was sent (our clock, ms).
    pub at: i64,
}

#[derive(Debug)]
struct Embedded(Backend);

impl MigrationSource<'static> for Embedded {
    fn resolve(self) -> BoxFuture<'static, Result<Vec<Migration>, sqlx::error::BoxDynError>> {
        let sql: [(&'static str, &'static str); 5] = match self.0 {
            Backend::Sqlite => [
                (
                    "history",
                    include_str!("../../migrations/sqlite/0001_history.sql"),
                ),
                (
                    "history_gaps",
                    include_str!("../../migrations/sqlite/0002_history_gaps.sql"),
                ),
                (
                    "history_pod_logs",
                    include_str!("../../migrations/sqlite/0003_history_pod_logs.sql"),
                ),
                (
                    "history_templates",
                    include_str!("../../migrations/sqlite/0004_history_templates.sql"),
                ),
                (
                    "history_clusters",
                    include_str!("../../migrations/sqlite/0005_history_clusters.sql"),
                ),
            ],
            Backend::Postgres => [
                (
                    "history",
                    include_str!("../../migrations/postgres/0001_history.sql"),
                ),
                (
                    "history_gaps",
                    include_str!("../../migrations/postgres/0002_history_gaps.sql"),
                ),
                (
                    "history_pod_logs",
                    include_str!("../../migrations/postgres/0003_history_pod_logs.sql"),
                ),
                (
                    "history_templates",
                    include_str!("../../migrations/postgres/0004_history_templates.sql"),
                ),
                (
                    "history_clusters",
                    include_str!("../../migrations/postgres/0005_history_clusters.sql"),
                ),
            ],
        };
        let migrations = sql
            .into_iter()
            .zip(1..)
            .map(|((name, sql), version)| {
                Migration::new(
                    version,
                    Cow::Borrowed(name),
                    MigrationType::Simple,
                    Cow::Borrowed(sql),
                    false,
                )
            })
            .collect();
        Box::pin(async move { Ok(migrations) })
    }
}

pub(super) async fn timed<T>(
    f: impl std::future::Future<Output = Result<T, sqlx::Error>>,
) -> Result<T, StoreError> {
    match tokio::time::timeout(CALL_TIMEOUT, f).await {
        Ok(r) => Ok(r?),
        Err(_) => Err(StoreError::Timeout),
    }
}

/// `sqlite://PATH`, `sqlite::memory:`, `postgres://…`: which database.
pub fn backend_of(url: &str) -> Result<Backend, StoreError> {
    if url.starts_with("sqlite:") {
        Ok(Backend::Sqlite)
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(Backend::Postgres)
    } else {
        Err(StoreError::Url(
            "--history-db must be sqlite://PATH, sqlite::memory: or postgres://…".to_string(),
        ))
    }
}

impl Store {
    /// Connects to `url` and brings its schema up to date.
    pub async fn open(url: &str) -> Result<Store, StoreError> {
        let backend = backend_of(url)?;
        sqlx::any::install_default_drivers();
        let memory = url.contains(":memory:") || url.contains("mode=memory");
        let url = match backend {
            // Create the file when it is not there yet.
            Backend::Sqlite if !memory && !url.contains('?') => format!("{url}?mode=rwc"),
            _ => url.to_string(),
        };
        let options = AnyPoolOptions::new()
            .acquire_timeout(CALL_TIMEOUT)
            // An in-memory SQLite lives as long as its one connection.
            .max_connections(match (backend, memory) {
                (Backend::Sqlite, true) => 1,
                // SQLite writes one at a time, and each connection is a
                // thread of its own: one is enough for a recorder and a
                // person's reads.
                (Backend::Sqlite, false) => 1,
                (Backend::Postgres, _) => 8,
            })
            .after_connect(move |conn, _| {
                Box::pin(async move {
                    if backend == Backend::Sqlite {
                        // A small page cache per connection (SQLite's default
                        // is 2 MB): the history is written more than read.
                        sqlx::Executor::execute(&mut *conn, "PRAGMA cache_size = -512").await?;
                    }
                    Ok(())
                })
            })
            .min_connections(u32::from(memory))
            .idle_timeout((!memory).then_some(Duration::from_secs(600)))
            .max_lifetime((!memory).then_some(Duration::from_secs(1800)));
        let pool = timed(options.connect(&url)).await?;
        if backend == Backend::Sqlite && !memory {
            // Readers do not wait for the writer.
            timed(sqlx::query("PRAGMA journal_mode=WAL").execute(&pool)).await?;
        }
        let migrator = Migrator::new(Embedded(backend)).await?;
        match tokio::time::timeout(Duration::from_secs(60), migrator.run(&pool)).await {
            Ok(r) => r?,
            Err(_) => return Err(StoreError::Timeout),
        }
        Ok(Store {
            pool,
            backend,
            cluster: String::new(),
        })
    }

    /// The same database as cluster `name`'s history (`""`: the
    /// dashboard's own cluster).
    pub fn for_cluster(&self, name: &str) -> Store {
        Store {
            cluster: name.to_string(),
            ..self.clone()
        }
    }

    /// Every rollout's remembered state, to resume from.
    pub async fn tracked(&self) -> Result<Vec<(RolloutKey, Tracked)>, StoreError> {
        let rows = timed(
            sqlx::query(
                "SELECT namespace, name, tracked FROM history_rollouts WHERE cluster = $1
                 ORDER BY updated_at",
            )
            .bind(self.cluster.clone())
            .fetch_all(&self.pool),
        )
        .await?;
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            let ns: String = row.try_get(0)?;
            let name: String = row.try_get(1)?;
            let json: String = row.try_get(2)?;
            match serde_json::from_str::<Tracked>(&json) {
                Ok(t) => out.push((RolloutKey::new(&ns, &name), t)),
                Err(e) => {
                    tracing::warn!(rollout = %format!("{ns}/{name}"), error = %e, "a remembered release state does not read; it starts afresh")
                }
            }
        }
        Ok(out)
    }

    /// What the last writer remembered of one rollout (its newest row).
    pub async fn tracked_of(&self, key: &RolloutKey) -> Result<Option<Tracked>, StoreError> {
        let row = timed(
            sqlx::query(
                "SELECT tracked FROM history_rollouts WHERE namespace = $1 AND name = $2 AND cluster = $3
                 ORDER BY updated_at DESC LIMIT 1",
            )
            .bind(key.namespace.clone())
            .bind(key.name.clone())
            .bind(self.cluster.clone())
            .fetch_optional(&self.pool),
        )
        .await?;
        let Some(row) = row else { return Ok(None) };
        let json: String = row.try_get(0)?;
        Ok(serde_json::from_str(&json).ok())
    }

    /// Writes `batches` in one transaction: all or nothing.
    pub async fn write(&self, batches: &[Batch]) -> Result<(), StoreError> {
        let work = async {
            let mut tx = self.pool.begin().await?;
            // A rollout's remembered state is written once, with its last
            // batch; its row id and revision ids are looked up once.
            let last: HashMap<&RolloutKey, usize> = batches
                .iter()
                .enumerate()
                .map(|(i, b)| (&b.key, i))
                .collect();
            let mut ids = Ids::default();
            for (i, b) in batches.iter().enumerate() {
                let is_last = last.get(&b.key) == Some(&i);
                write_one(&mut tx, &self.cluster, b, is_last, &mut ids).await?;
            }
            tx.commit().await
        };
        let written = match tokio::time::timeout(CALL_TIMEOUT * 3, work).await {
            Ok(r) => r,
            Err(_) => return Err(StoreError::Timeout),
        };
        written?;
        let acted_on: std::collections::BTreeSet<&RolloutKey> = batches
            .iter()
            .filter(|b| {
                b.facts.iter().any(|f| {
                    matches!(
                        f,
                        Fact::Event {
                            via: Via::Person,
                            ..
                        }
                    )
                })
            })
            .map(|b| &b.key)
            .collect();
        // Once per rollout, however many of its batches this write held.
        for key in acted_on {
            self.pair_leftovers(key).await;
        }
        Ok(())
    }

    /// Pairs a person's actions with their effects where the two were
    /// written at one moment by different writers, each before it could
    /// see the other's row (PostgreSQL, an action during an outage). Run
    /// after each side commits, so the later one sees both.
    async fn pair_leftovers(&self, key: &RolloutKey) {
        let work = async {
            for _ in 0..PAIRS_AT_ONCE {
                let pair = sqlx::query(
                    "SELECT a.id, e.id, a.by_user FROM history_attributions a
                     JOIN history_rollouts o ON o.cluster = a.cluster AND o.namespace = a.namespace AND o.name = a.name
                     JOIN history_revisions r ON r.rollout_id = o.id
                     JOIN history_events e ON e.revision_id = r.id
                     WHERE a.cluster = $5 AND a.namespace = $1 AND a.name = $2 AND a.used = 0 AND e.via = 'outside'
                       AND (e.kind = a.kind OR (e.kind = 'promote' AND a.kind = 'resume')
                            OR (e.kind = 'resume' AND a.kind = 'promote'))
                       AND e.seen_at >= a.at - $3 AND e.seen_at <= a.at + $4
                     ORDER BY a.at, e.seen_at LIMIT 1",
                )
                .bind(key.namespace.clone())
                .bind(key.name.clone())
                .bind(EFFECT_BEFORE_ACTION_MS)
                .bind(ATTRIBUTION_WINDOW_MS)
                .bind(self.cluster.clone())
                .fetch_optional(&self.pool)
                .await?;
                let Some(pair) = pair else {
                    return Ok(());
                };
                let (action, effect): (i64, i64) = (pair.try_get(0)?, pair.try_get(1)?);
                let by: Option<String> = pair.try_get(2)?;
                // Both rows change or neither: another writer pairing at
                // the same moment takes one of them first.
                let mut tx = self.pool.begin().await?;
                let used = sqlx::query(
                    "UPDATE history_attributions SET used = 1 WHERE id = $1 AND used = 0",
                )
                .bind(action)
                .execute(&mut *tx)
                .await?
                .rows_affected();
                let credited = sqlx::query(
                    "UPDATE history_events SET via = 'dashboard', by_user = $1
                     WHERE id = $2 AND via = 'outside'",
                )
                .bind(by)
                .bind(effect)
                .execute(&mut *tx)
                .await?
                .rows_affected();
                if used == 1 && credited == 1 {
                    tx.commit().await?;
                } else {
                    tx.rollback().await?;
                }
            }
            Ok::<(), sqlx::Error>(())
        };
        let outcome = tokio::time::timeout(CALL_TIMEOUT, work).await;
        if let Some(e) = match outcome {
            Ok(Ok(())) => None,
            Ok(Err(e)) => Some(e.to_string()),
            Err(_) => Some("timed out".to_string()),
        } {
            tracing::warn!(rollout = %key, error = %e, "cannot pair actions with their effects now; they stay recorded as from outside the dashboard");
        }
    }

    /// Records who sent an action, and credits an effect already seen.
    pub async fn attribute(&self, a: &Attribution) -> Result<(), StoreError> {
        let work = async {
            let mut tx = self.pool.begin().await?;
            let credited = sqlx::query(
                "UPDATE history_events SET via = 'dashboard', by_user = $1 WHERE id = (
                   SELECT e.id FROM history_events e
                   JOIN history_revisions r ON e.revision_id = r.id
                   JOIN history_rollouts o ON r.rollout_id = o.id
                   WHERE o.cluster = $7 AND o.namespace = $2 AND o.name = $3 AND (e.kind = $4 OR e.kind = $6)
                     AND e.via = 'outside' AND e.seen_at >= $5
                   ORDER BY e.seen_at LIMIT 1)",
            )
            .bind(a.by.clone())
            .bind(a.key.namespace.clone())
            .bind(a.key.name.clone())
            .bind(a.kind.as_str())
            .bind(a.at - EFFECT_BEFORE_ACTION_MS)
            .bind(companion(a.kind).as_str())
            .bind(self.cluster.clone())
            .execute(&mut *tx)
            .await?
            .rows_affected();
            sqlx::query(
                "INSERT INTO history_attributions (namespace, name, kind, by_user, at, used, cluster)
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(a.key.namespace.clone())
            .bind(a.key.name.clone())
            .bind(a.kind.as_str())
            .bind(a.by.clone())
            .bind(a.at)
            .bind(i64::from(credited > 0))
            .bind(self.cluster.clone())
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            Ok::<bool, sqlx::Error>(credited > 0)
        };
        let credited = match tokio::time::timeout(CALL_TIMEOUT, work).await {
            Ok(r) => r?,
            Err(_) => return Err(StoreError::Timeout),
        };
        if !credited {
            self.pair_leftovers(&a.key).await;
        }
        Ok(())
    }

    /// A rollout's revisions, newest first, at most `limit`.
    pub async fn history(
        &self,
        key: &RolloutKey,
        limit: i64,
    ) -> Result<Vec<RevisionRecord>, StoreError> {
        let rows = timed(
            sqlx::query(
                "SELECT r.id, r.revision, r.pod_template_hash, r.images, r.started_at, r.ended_at, r.outcome
                 FROM history_revisions r JOIN history_rollouts o ON r.rollout_id = o.id
                 WHERE o.namespace = $1 AND o.name = $2 AND o.cluster = $4
                 ORDER BY r.started_at DESC, r.revision DESC LIMIT $3",
            )
            .bind(key.namespace.clone())
            .bind(key.name.clone())
            .bind(limit)
            .bind(self.cluster.clone())
            .fetch_all(&self.pool),
        )
        .await?;
        let mut revisions = Vec::with_capacity(rows.len());
        for row in &rows {
            revisions.push((row.try_get::<i64, _>(0)?, revision_record(row)?));
        }
        let Some(oldest) = revisions.iter().map(|(_, r)| r.started_at).min() else {
            return Ok(Vec::new());
        };
        let steps = timed(
            sqlx::query(
                "SELECT s.revision_id, s.attempt, s.step_index, s.description, s.entered_at, s.left_at, s.weight, s.observed_percent
                 FROM history_steps s JOIN history_revisions r ON s.revision_id = r.id
                 JOIN history_rollouts o ON r.rollout_id = o.id
                 WHERE o.namespace = $1 AND o.name = $2 AND r.started_at >= $3 AND o.cluster = $4
                 ORDER BY s.attempt, s.step_index",
            )
            .bind(key.namespace.clone())
            .bind(key.name.clone())
            .bind(oldest)
            .bind(self.cluster.clone())
            .fetch_all(&self.pool),
        )
        .await?;
        let events = timed(
            sqlx::query(
                "SELECT e.revision_id, e.kind, e.at, e.via, e.by_user, e.message
                 FROM history_events e JOIN history_revisions r ON e.revision_id = r.id
                 JOIN history_rollouts o ON r.rollout_id = o.id
                 WHERE o.namespace = $1 AND o.name = $2 AND r.started_at >= $3 AND o.cluster = $4
                 ORDER BY e.at, e.id",
            )
            .bind(key.namespace.clone())
            .bind(key.name.clone())
            .bind(oldest)
            .bind(self.cluster.clone())
            .fetch_all(&self.pool),
        )
        .await?;
        for row in &steps {
            let id: i64 = row.try_get(0)?;
            if let Some((_, r)) = revisions.iter_mut().find(|(rid, _)| *rid == id) {
                r.steps.push(StepRecord {
                    attempt: row.try_get(1)?,
                    index: row.try_get(2)?,
                    description: row.try_get(3)?,
                    entered_at: row.try_get(4)?,
                    left_at: row.try_get(5)?,
                    weight: row.try_get(6)?,
                    observed_percent: row.try_get(7)?,
                });
            }
        }
        for row in &events {
            let id: i64 = row.try_get(0)?;
            if let Some((_, r)) = revisions.iter_mut().find(|(rid, _)| *rid == id) {
                let kind: String = row.try_get(1)?;
                let Some(kind) = EventKind::parse(&kind) else {
                    continue;
                };
                r.events.push(EventRecord {
                    at: row.try_get(2)?,
                    kind,
                    via: row.try_get(3)?,
                    by: row.try_get(4)?,
                    message: row.try_get(5)?,
                });
            }
        }
        Ok(revisions.into_iter().map(|(_, r)| r).collect())
    }

    /// Revisions started since `since` (ms), newest first, at most
    /// `limit`, with who promoted or aborted them.
    pub async fn releases(&self, since: i64, limit: i64) -> Result<Vec<ReleaseRow>, StoreError> {
        let rows = timed(
            sqlx::query(
                "SELECT r.id, o.namespace, o.name, r.revision, r.pod_template_hash, r.images, r.started_at, r.ended_at, r.outcome
                 FROM history_revisions r JOIN history_rollouts o ON r.rollout_id = o.id
                 WHERE r.started_at >= $1 AND o.cluster = $3
                 ORDER BY r.started_at DESC LIMIT $2",
            )
            .bind(since)
            .bind(limit)
            .bind(self.cluster.clone())
            .fetch_all(&self.pool),
        )
        .await?;
        let mut out = Vec::with_capacity(rows.len());
        let mut ids = std::collections::HashMap::new();
        for row in &rows {
            let id: i64 = row.try_get(0)?;
            ids.insert(id, out.len());
            out.push(ReleaseRow {
                key: RolloutKey::new(&row.try_get::<String, _>(1)?, &row.try_get::<String, _>(2)?),
                revision: row.try_get(3)?,
                pod_template_hash: row.try_get(4)?,
                images: serde_json::from_str(&row.try_get::<String, _>(5)?).unwrap_or_default(),
                started_at: row.try_get(6)?,
                ended_at: row.try_get(7)?,
                outcome: Outcome::parse(&row.try_get::<String, _>(8)?).unwrap_or_default(),
                promoted_by: None,
                aborted_by: None,
                aborts: Vec::new(),
            });
        }
        let events = timed(
            sqlx::query(
                "SELECT e.revision_id, e.kind, e.at, e.via, e.by_user
                 FROM history_events e JOIN history_revisions r ON e.revision_id = r.id
                 JOIN history_rollouts o ON r.rollout_id = o.id
                 WHERE r.started_at >= $1 AND o.cluster = $2
                   AND e.kind IN ('promote', 'promoteFull', 'abort')
                 ORDER BY e.at",
            )
            .bind(since)
            .bind(self.cluster.clone())
            .fetch_all(&self.pool),
        )
        .await?;
        for row in &events {
            let id: i64 = row.try_get(0)?;
            let Some(&i) = ids.get(&id) else { continue };
            let kind: String = row.try_get(1)?;
            let at: i64 = row.try_get(2)?;
            let via: String = row.try_get(3)?;
            let by: Option<String> = row.try_get(4)?;
            let who = super::records::who(&via, by.as_deref());
            if kind == "abort" {
                out[i].aborts.push(at);
                out[i].aborted_by = Some(who);
            } else {
                out[i].promoted_by = Some(who);
            }
        }
        Ok(out)
    }

    /// Deletes revisions that ended (or started, when they never ended)
    /// before `cutoff` (ms), and what belongs to them. Returns how many
    /// revisions went.
    pub async fn forget_before(&self, cutoff: i64) -> Result<u64, StoreError> {
        let work = async {
            let mut tx = self.pool.begin().await?;
            // This cluster's: another's recorder, maybe another replica's,
            // keeps its own.
            let old = "SELECT r.id FROM history_revisions r JOIN history_rollouts o ON r.rollout_id = o.id
                       WHERE o.cluster = $2 AND COALESCE(r.ended_at, r.started_at) < $1 AND r.outcome <> 'inProgress'";
            for table in [
                "history_steps",
                "history_events",
                "history_pod_logs",
                "history_templates",
            ] {
                sqlx::query(&format!("DELETE FROM {table} WHERE revision_id IN ({old})"))
                    .bind(cutoff)
                    .bind(self.cluster.clone())
                    .execute(&mut *tx)
                    .await?;
            }
            let gone = sqlx::query(&format!(
                "DELETE FROM history_revisions WHERE id IN ({old})"
            ))
            .bind(cutoff)
            .bind(self.cluster.clone())
            .execute(&mut *tx)
            .await?
            .rows_affected();
            sqlx::query("DELETE FROM history_gaps WHERE ended_at < $1 AND cluster = $2")
                .bind(cutoff)
                .bind(self.cluster.clone())
                .execute(&mut *tx)
                .await?;
            // Who sent an action matters only while its effect may come.
            sqlx::query("DELETE FROM history_attributions WHERE at < $1 AND cluster = $2")
                .bind(now_ms().saturating_sub(ATTRIBUTION_WINDOW_MS * 10))
                .bind(self.cluster.clone())
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok::<_, sqlx::Error>(gone)
        };
        match tokio::time::timeout(CALL_TIMEOUT * 6, work).await {
            Ok(r) => Ok(r?),
            Err(_) => Err(StoreError::Timeout),
        }
    }

    /// Whether the database answers, within a second.
    pub async fn ping(&self) -> Result<(), StoreError> {
        let work = async {
            let mut conn = self.pool.acquire().await?;
            sqlx::Executor::execute(&mut *conn, "SELECT 1").await?;
            Ok::<_, sqlx::Error>(())
        };
        match tokio::time::timeout(Duration::from_secs(1), work).await {
            Ok(r) => Ok(r?),
            Err(_) => Err(StoreError::Timeout),
        }
    }

    /// Records times the history could not be written.
    pub async fn record_gaps(&self, gaps: &[Gap]) -> Result<(), StoreError> {
        let work = async {
            let mut tx = self.pool.begin().await?;
            for g in gaps {
                let (namespace, name) = g
                    .key
                    .as_ref()
                    .map(|k| (k.namespace.clone(), k.name.clone()))
                    .unwrap_or_default();
                sqlx::query(
                    "INSERT INTO history_gaps (namespace, name, started_at, ended_at, lost, reason, cluster)
                     VALUES ($1, $2, $3, $4, $5, $6, $7)",
                )
                .bind(namespace)
                .bind(name)
                .bind(g.from)
                .bind(g.to)
                .bind(i64::from(g.lost))
                .bind(g.reason.clone())
                .bind(self.cluster.clone())
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await
        };
        match tokio::time::timeout(CALL_TIMEOUT, work).await {
            Ok(r) => Ok(r?),
            Err(_) => Err(StoreError::Timeout),
        }
    }

    /// Gaps that ended at or after `since` (ms), oldest first: the
    /// database's own, and with `key` that rollout's (else every rollout's).
    pub async fn gaps(&self, since: i64, key: Option<&RolloutKey>) -> Result<Vec<Gap>, StoreError> {
        let (namespace, name) = key
            .map(|k| (k.namespace.clone(), k.name.clone()))
            .unwrap_or_default();
        let rows = timed(
            sqlx::query(
                "SELECT namespace, name, started_at, ended_at, lost, reason FROM history_gaps
                 WHERE ended_at >= $1 AND cluster = $4
                   AND (namespace = '' OR $2 = '' OR (namespace = $2 AND name = $3))
                 ORDER BY started_at, id LIMIT 1000",
            )
            .bind(since)
            .bind(namespace)
            .bind(name)
            .bind(self.cluster.clone())
            .fetch_all(&self.pool),
        )
        .await?;
        rows.iter()
            .map(|row| {
                let namespace: String = row.try_get(0)?;
                let name: String = row.try_get(1)?;
                Ok(Gap {
                    key: (!namespace.is_empty()).then(|| RolloutKey::new(&namespace, &name)),
                    from: row.try_get(2)?,
                    to: row.try_get(3)?,
                    lost: row.try_get::<i64, _>(4)? != 0,
                    reason: row.try_get(5)?,
                })
            })
            .collect::<Result<Vec<_>, sqlx::Error>>()
            .map_err(StoreError::from)
    }

    /// Row counts per table, for the benchmark and tests.
    pub async fn counts(&self) -> Result<Vec<(&'static str, i64)>, StoreError> {
        let mut out = Vec::new();
        for table in [
            "history_rollouts",
            "history_revisions",
            "history_steps",
            "history_events",
            "history_attributions",
            "history_gaps",
            "history_pod_logs",
            "history_templates",
        ] {
            let row =
                timed(sqlx::query(&format!("SELECT COUNT(*) FROM {table}")).fetch_one(&self.pool))
                    .await?;
            out.push((table, row.try_get::<i64, _>(0)?));
        }
        Ok(out)
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }
}

pub fn now_ms() -> i64 {
    jiff::Timestamp::now().as_millisecond()
}

fn revision_record(row: &AnyRow) -> Result<RevisionRecord, sqlx::Error> {
    let images: String = row.try_get(3)?;
    let outcome: String = row.try_get(6)?;
    Ok(RevisionRecord {
        revision: row.try_get(1)?,
        pod_template_hash: row.try_get(2)?,
        images: serde_json::from_str(&images).unwrap_or_default(),
        started_at: row.try_get(4)?,
        ended_at: row.try_get(5)?,
        outcome: Outcome::parse(&outcome).unwrap_or_default(),
        steps: Vec::new(),
        events: Vec::new(),
    })
}

type Tx<'a> = sqlx::Transaction<'a, sqlx::Any>;

/// Row ids looked up in one transaction.
#[derive(Default)]
struct Ids {
    rollouts: HashMap<RolloutKey, i64>,
    revisions: HashMap<(i64, i64), i64>,
}

async fn write_one(
    tx: &mut Tx<'_>,
    cluster: &str,
    b: &Batch,
    is_last: bool,
    ids: &mut Ids,
) -> Result<(), sqlx::Error> {
    let known = ids.rollouts.get(&b.key).copied();
    let rollout_id = match known {
        Some(id) if !is_last => id,
        _ => {
            let id = upsert_rollout(tx, cluster, b).await?;
            ids.rollouts.insert(b.key.clone(), id);
            id
        }
    };
    if b.facts.is_empty() {
        return Ok(());
    }
    write_facts(tx, cluster, b, rollout_id, &mut ids.revisions).await
}

/// The rollout's row with what the recorder remembers; its id.
async fn upsert_rollout(tx: &mut Tx<'_>, cluster: &str, b: &Batch) -> Result<i64, sqlx::Error> {
    let tracked = serde_json::to_string(&b.tracked).unwrap_or_else(|_| "{}".to_string());
    sqlx::query(
        "INSERT INTO history_rollouts (namespace, name, uid, tracked, updated_at, cluster)
         VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (cluster, namespace, name, uid) DO UPDATE SET tracked = excluded.tracked, updated_at = excluded.updated_at
         RETURNING id",
    )
    .bind(b.key.namespace.clone())
    .bind(b.key.name.clone())
    .bind(b.tracked.uid.clone())
    .bind(tracked)
    .bind(b.seen_at)
    .bind(cluster.to_string())
    .fetch_one(&mut **tx)
    .await?
    .try_get(0)
}

async fn write_facts(
    tx: &mut Tx<'_>,
    cluster: &str,
    b: &Batch,
    rollout_id: i64,
    revisions: &mut HashMap<(i64, i64), i64>,
) -> Result<(), sqlx::Error> {
    for fact in &b.facts {
        match fact {
            Fact::Revision {
                revision,
                hash,
                images,
                started_at,
            } => {
                sqlx::query(
                    "INSERT INTO history_revisions (rollout_id, revision, pod_template_hash, images, started_at, ended_at, outcome)
                     VALUES ($1, $2, $3, $4, $5, NULL, 'inProgress')
                     ON CONFLICT (rollout_id, revision) DO NOTHING",
                )
                .bind(rollout_id)
                .bind(*revision)
                .bind(hash.clone())
                .bind(serde_json::to_string(images).unwrap_or_else(|_| "[]".to_string()))
                .bind(*started_at)
                .execute(&mut **tx)
                .await?;
            }
            Fact::Outcome {
                revision,
                outcome,
                ended_at,
            } => {
                sqlx::query(
                    "UPDATE history_revisions SET outcome = $1,
                       ended_at = CASE WHEN $1 = 'inProgress' THEN NULL ELSE COALESCE($2, ended_at) END
                     WHERE rollout_id = $3 AND revision = $4",
                )
                .bind(outcome.as_str())
                .bind(*ended_at)
                .bind(rollout_id)
                .bind(*revision)
                .execute(&mut **tx)
                .await?;
            }
            Fact::StepEntered {
                revision,
                attempt,
                index,
                description,
                at,
                weight,
            } => {
                let Some(rid) = revision_id(tx, rollout_id, *revision, revisions).await? else {
                    continue;
                };
                let insert = sqlx::query(
                    "INSERT INTO history_steps (revision_id, attempt, step_index, description, entered_at, left_at, weight, observed_percent)
                     VALUES ($4, $5, $6, $1, $2, NULL, $3, NULL)
                     ON CONFLICT (revision_id, attempt, step_index) DO NOTHING",
                )
                .bind(description.clone())
                .bind(*at)
                .bind(weight.map(i64::from));
                on_step(tx, insert, rid, *attempt, *index).await?;
            }
            Fact::StepLeft {
                revision,
                attempt,
                index,
                at,
            } => {
                let Some(rid) = revision_id(tx, rollout_id, *revision, revisions).await? else {
                    continue;
                };
                on_step(tx, sqlx::query(LEAVE_STEP).bind(*at), rid, *attempt, *index).await?;
            }
            Fact::PauseRanToEnd {
                revision,
                attempt,
                index,
                at,
            } => {
                let Some(rid) = revision_id(tx, rollout_id, *revision, revisions).await? else {
                    continue;
                };
                pause_ran_to_end(tx, rid, *attempt, *index, *at).await?;
            }
            Fact::StepTraffic {
                revision,
                attempt,
                index,
                weight,
                observed_percent,
            } => {
                let Some(rid) = revision_id(tx, rollout_id, *revision, revisions).await? else {
                    continue;
                };
                let traffic = sqlx::query(
                    "UPDATE history_steps SET weight = COALESCE($1, weight), observed_percent = COALESCE($2, observed_percent)
                     WHERE revision_id = $3 AND attempt = $4 AND step_index = $5",
                )
                .bind(weight.map(i64::from))
                .bind(*observed_percent);
                on_step(tx, traffic, rid, *attempt, *index).await?;
            }
            Fact::Event { revision, .. } => {
                let Some(rid) = revision_id(tx, rollout_id, *revision, revisions).await? else {
                    continue;
                };
                record_event(tx, cluster, b, rid, fact).await?;
            }
        }
    }
    Ok(())
}

/// A timed pause that ran to its end: its step ends then; steps after it,
/// and the revision's end, are not before then.
async fn pause_ran_to_end(
    tx: &mut Tx<'_>,
    rid: i64,
    attempt: i64,
    index: i32,
    at: i64,
) -> Result<(), sqlx::Error> {
    for sql in [
        LEAVE_STEP,
        "UPDATE history_steps SET entered_at = $1
         WHERE revision_id = $2 AND attempt = $3 AND step_index > $4 AND entered_at < $1",
        "UPDATE history_steps SET left_at = $1
         WHERE revision_id = $2 AND attempt = $3 AND step_index > $4
           AND left_at IS NOT NULL AND left_at < $1",
    ] {
        on_step(tx, sqlx::query(sql).bind(at), rid, attempt, index).await?;
    }
    sqlx::query(
        "UPDATE history_revisions SET ended_at = $1
         WHERE id = $2 AND ended_at IS NOT NULL AND ended_at < $1",
    )
    .bind(at)
    .bind(rid)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// An event of revision row `rid`, credited to the person whose action
/// the dashboard sent when one matches (else "outside").
async fn record_event(
    tx: &mut Tx<'_>,
    cluster: &str,
    b: &Batch,
    rid: i64,
    fact: &Fact,
) -> Result<(), sqlx::Error> {
    let Fact::Event {
        kind,
        slot,
        at,
        via,
        message,
        ..
    } = fact
    else {
        return Ok(());
    };
    let (via, by) = match via {
        Via::Controller => ("controller", None),
        Via::Person => match credit(tx, cluster, &b.key, *kind, b.seen_at).await? {
            Some(by) => ("dashboard", by),
            None => ("outside", None),
        },
    };
    sqlx::query(
        "INSERT INTO history_events (revision_id, kind, slot, at, seen_at, via, by_user, message)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
         ON CONFLICT (revision_id, kind, slot) DO NOTHING",
    )
    .bind(rid)
    .bind(kind.as_str())
    .bind(slot.clone())
    .bind(*at)
    .bind(b.seen_at)
    .bind(via)
    .bind(by)
    .bind(message.clone())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Runs `query` on one step's row: its last three parameters are the
/// revision's row id, the attempt and the step's index.
async fn on_step<'q>(
    tx: &mut Tx<'_>,
    query: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>,
    revision_id: i64,
    attempt: i64,
    index: i32,
) -> Result<(), sqlx::Error> {
    query
        .bind(revision_id)
        .bind(attempt)
        .bind(i64::from(index))
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// The other kind an action's effect may be recorded as: a promote of a
/// rollout a person paused clears `spec.paused`, which reads as a resume.
fn companion(kind: EventKind) -> EventKind {
    match kind {
        EventKind::Promote => EventKind::Resume,
        EventKind::Resume => EventKind::Promote,
        k => k,
    }
}

async fn revision_id(
    tx: &mut Tx<'_>,
    rollout_id: i64,
    revision: i64,
    known: &mut HashMap<(i64, i64), i64>,
) -> Result<Option<i64>, sqlx::Error> {
    if let Some(id) = known.get(&(rollout_id, revision)) {
        return Ok(Some(*id));
    }
    let row =
        sqlx::query("SELECT id FROM history_revisions WHERE rollout_id = $1 AND revision = $2")
            .bind(rollout_id)
            .bind(revision)
            .fetch_optional(&mut **tx)
            .await?;
    let id: Option<i64> = row.map(|r| r.try_get(0)).transpose()?;
    if let Some(id) = id {
        known.insert((rollout_id, revision), id);
    }
    Ok(id)
}

/// The person whose action, sent through a dashboard, this effect is: the
/// oldest unused one of its kind in the window. `Some(None)`: sent through
/// a dashboard no one was signed in to.
async fn credit(
    tx: &mut Tx<'_>,
    cluster: &str,
    key: &RolloutKey,
    kind: EventKind,
    seen_at: i64,
) -> Result<Option<Option<String>>, sqlx::Error> {
    let row = sqlx::query(
        "SELECT id, by_user FROM history_attributions
         WHERE cluster = $7 AND namespace = $1 AND name = $2 AND (kind = $3 OR kind = $6)
           AND used = 0 AND at >= $4 AND at <= $5
         ORDER BY at LIMIT 1",
    )
    .bind(key.namespace.clone())
    .bind(key.name.clone())
    .bind(kind.as_str())
    .bind(seen_at - ATTRIBUTION_WINDOW_MS)
    .bind(seen_at + EFFECT_BEFORE_ACTION_MS)
    .bind(companion(kind).as_str())
    .bind(cluster.to_string())
    .fetch_optional(&mut **tx)
    .await?;
    let Some(row) = row else { return Ok(None) };
    let id: i64 = row.try_get(0)?;
    let by: Option<String> = row.try_get(1)?;
    sqlx::query("UPDATE history_attributions SET used = 1 WHERE id = $1")
        .bind(id)
        .execute(&mut **tx)
        .await?;
    Ok(Some(by))
}

#[cfg(test)]
impl Store {
    /// Runs `sql` as is: tests use it to break and mend the database.
    pub async fn run_for_test(&self, sql: &str) {
        sqlx::query(sql)
            .execute(&self.pool)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn what_is_remembered_of_a_rollout_reads_back() {
        let store = Store::open("sqlite::memory:").await.expect("opens");
        let key = RolloutKey::new("shop", "web");
        let tracked = Tracked {
            uid: "u1".into(),
            revision: 2,
            hash: "abc".into(),
            ..Tracked::default()
        };
        let batch = Batch {
            key: key.clone(),
            tracked: tracked.clone(),
            facts: vec![Fact::Revision {
                revision: 2,
                hash: "abc".into(),
                images: vec!["app:2".into()],
                started_at: 1,
            }],
            seen_at: 5,
        };
        store.write(&[batch]).await.expect("written");
        assert_eq!(store.tracked_of(&key).await.expect("read"), Some(tracked));
        assert_eq!(
            store
                .tracked_of(&RolloutKey::new("shop", "other"))
                .await
                .expect("read"),
            None
        );
    }

    fn revision_batch(key: &RolloutKey, uid: &str, revision: i64) -> Batch {
        Batch {
            key: key.clone(),
            tracked: Tracked {
                uid: uid.into(),
                revision,
                ..Tracked::default()
            },
            facts: vec![Fact::Revision {
                revision,
                hash: format!("h{revision}"),
                images: vec![format!("app:{revision}")],
                started_at: revision,
            }],
            seen_at: revision,
        }
    }

    #[tokio::test]
    async fn each_cluster_reads_and_forgets_only_its_own_history() {
        let own = Store::open("sqlite::memory:").await.expect("opens");
        let b = own.for_cluster("prod-b");
        let key = RolloutKey::new("shop", "web");
        // The same rollout, even with the same uid, in two clusters.
        own.write(&[revision_batch(&key, "u1", 1)])
            .await
            .expect("written");
        b.write(&[revision_batch(&key, "u1", 7)])
            .await
            .expect("written");
        let revisions = |s: &Store| {
            let s = s.clone();
            let key = key.clone();
            async move {
                let h = s.history(&key, 50).await.expect("read");
                h.iter().map(|r| r.revision).collect::<Vec<_>>()
            }
        };
        assert_eq!(revisions(&own).await, [1]);
        assert_eq!(revisions(&b).await, [7]);
        assert_eq!(own.releases(0, 10).await.expect("read").len(), 1);
        assert_eq!(b.releases(0, 10).await.expect("read")[0].revision, 7);
        assert_eq!(b.tracked().await.expect("read")[0].1.revision, 7);
        b.record_gaps(&[Gap {
            key: None,
            from: 1,
            to: 2,
            lost: false,
            reason: "b's outage".into(),
        }])
        .await
        .expect("written");
        assert!(own.gaps(0, None).await.expect("read").is_empty());
        assert_eq!(b.gaps(0, None).await.expect("read").len(), 1);
        // A person's action is credited in its cluster only.
        b.attribute(&Attribution {
            key: key.clone(),
            kind: EventKind::Abort,
            by: Some("carol".into()),
            at: 10,
        })
        .await
        .expect("noted");
        let mut abort = revision_batch(&key, "u1", 7);
        abort.facts = vec![Fact::Event {
            revision: 7,
            kind: EventKind::Abort,
            slot: "1".into(),
            at: 11,
            via: Via::Person,
            message: "aborted".into(),
        }];
        abort.seen_at = 11;
        let mut own_abort = abort.clone();
        own_abort.tracked.revision = 1;
        if let Fact::Event { revision, .. } = &mut own_abort.facts[0] {
            *revision = 1;
        }
        own.write(&[own_abort]).await.expect("written");
        b.write(&[abort]).await.expect("written");
        let by = |h: Vec<RevisionRecord>| h[0].events[0].by.clone();
        assert_eq!(by(own.history(&key, 5).await.expect("read")), None);
        assert_eq!(
            by(b.history(&key, 5).await.expect("read")),
            Some("carol".into())
        );
        // Retention in one cluster leaves the other's alone.
        b.run_for_test("UPDATE history_revisions SET outcome = 'healthy'")
            .await;
        assert_eq!(b.forget_before(1_000).await.expect("forgotten"), 1);
        assert_eq!(revisions(&own).await, [1]);
        assert!(revisions(&b).await.is_empty());
    }

    #[tokio::test]
    async fn what_one_cluster_recorded_before_clusters_stays_the_dashboards_own() {
        let dir = std::env::temp_dir().join(format!("rd-clusters-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("a folder");
        let url = format!("sqlite://{}?mode=rwc", dir.join("history.db").display());
        // The database as the version before several clusters left it.
        {
            sqlx::any::install_default_drivers();
            let pool = AnyPoolOptions::new().connect(&url).await.expect("opens");
            let mut before = Migrator::new(Embedded(Backend::Sqlite))
                .await
                .expect("migrations");
            before.migrations = Cow::Owned(before.migrations[..4].to_vec());
            before.run(&pool).await.expect("the old schema");
            for sql in [
                "INSERT INTO history_rollouts (namespace, name, uid, tracked, updated_at)
                 VALUES ('shop', 'web', 'u1', '{\"uid\":\"u1\",\"revision\":3}', 1)",
                "INSERT INTO history_revisions (rollout_id, revision, pod_template_hash, images, started_at, ended_at, outcome)
                 VALUES (1, 3, 'h3', '[]', 1, NULL, 'inProgress')",
                "INSERT INTO history_gaps (namespace, name, started_at, ended_at, lost, reason)
                 VALUES ('', '', 1, 2, 0, 'an outage')",
            ] {
                sqlx::query(sql).execute(&pool).await.expect(sql);
            }
            pool.close().await;
        }
        let store = Store::open(&url.replace("?mode=rwc", ""))
            .await
            .expect("migrated");
        let key = RolloutKey::new("shop", "web");
        let h = store.history(&key, 5).await.expect("read");
        assert_eq!(h.iter().map(|r| r.revision).collect::<Vec<_>>(), [3]);
        assert_eq!(store.gaps(0, None).await.expect("read").len(), 1);
        assert!(
            store
                .for_cluster("prod-b")
                .history(&key, 5)
                .await
                .expect("read")
                .is_empty()
        );
        // Writing on goes to the same row.
        store
            .write(&[revision_batch(&key, "u1", 4)])
            .await
            .expect("written");
        let counts = store.counts().await.expect("counts");
        assert!(counts.contains(&("history_rollouts", 1)), "{counts:?}");
        store.close().await;
        let _ = std::fs::remove_dir_all(&dir);
    }
}
