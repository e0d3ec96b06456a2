//! The kept pod logs in the history database (`history_pod_logs`): written
//! once a revision is aborted or degraded, read for its History entry.

use sqlx::Row;

use super::facts::Outcome;
use super::kept_logs::{KeptLog, decode, encode};
use super::store::{Store, StoreError, timed};
use crate::model::RolloutKey;

/// What a revision has kept, without its lines.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeptSummary {
    pub revision: i64,
    /// Containers kept (pods × containers), and how many of them could not
    /// be read.
    pub logs: i64,
    pub unread: i64,
    pub lines: i64,
    pub error_lines: i64,
    pub captured_at: i64,
}

impl Store {
    /// Keeps `logs` with revision `revision` of the rollout `key` with
    /// `uid`, replacing what an earlier abort of it kept. `false` when that
    /// revision is not recorded (yet): nothing is written.
    pub async fn keep_pod_logs(
        &self,
        key: &RolloutKey,
        uid: &str,
        revision: i64,
        logs: &[KeptLog],
    ) -> Result<bool, StoreError> {
        let work = async {
            let mut tx = self.pool.begin().await?;
            let id: Option<i64> = sqlx::query(
                "SELECT r.id FROM history_revisions r JOIN history_rollouts o ON r.rollout_id = o.id
                 WHERE o.namespace = $1 AND o.name = $2 AND o.uid = $3 AND r.revision = $4 AND o.cluster = $5",
            )
            .bind(key.namespace.clone())
            .bind(key.name.clone())
            .bind(uid.to_string())
            .bind(revision)
            .bind(self.cluster.clone())
            .fetch_optional(&mut *tx)
            .await?
            .map(|row| row.try_get(0))
            .transpose()?;
            let Some(id) = id else {
                return Ok(false);
            };
            sqlx::query("DELETE FROM history_pod_logs WHERE revision_id = $1")
                .bind(id)
                .execute(&mut *tx)
                .await?;
            for log in logs {
                sqlx::query(
                    "INSERT INTO history_pod_logs
                     (revision_id, pod, container, captured_at, reason, lines, line_count, error_lines, dropped, problem)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
                )
                .bind(id)
                .bind(log.pod.clone())
                .bind(log.container.clone())
                .bind(log.captured_at)
                .bind(log.reason.as_str())
                .bind(encode(&log.lines))
                .bind(log.lines.len() as i64)
                .bind(log.error_lines() as i64)
                .bind(i64::try_from(log.dropped).unwrap_or(i64::MAX))
                .bind(log.problem.clone())
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await?;
            Ok::<_, sqlx::Error>(true)
        };
        timed(work).await
    }

    /// What each of `key`'s revisions kept, newest revision first.
    pub async fn pod_log_summaries(
        &self,
        key: &RolloutKey,
    ) -> Result<Vec<KeptSummary>, StoreError> {
        let rows = timed(
            sqlx::query(
                // SUM of a BIGINT is NUMERIC in PostgreSQL: cast back.
                "SELECT r.revision, COUNT(*), CAST(SUM(CASE WHEN l.problem IS NULL THEN 0 ELSE 1 END) AS BIGINT),
                        CAST(SUM(l.line_count) AS BIGINT), CAST(SUM(l.error_lines) AS BIGINT), MAX(l.captured_at)
                 FROM history_pod_logs l JOIN history_revisions r ON l.revision_id = r.id
                 JOIN history_rollouts o ON r.rollout_id = o.id
                 WHERE o.namespace = $1 AND o.name = $2 AND o.cluster = $3
                 GROUP BY r.id, r.revision ORDER BY r.id DESC",
            )
            .bind(key.namespace.clone())
            .bind(key.name.clone())
            .bind(self.cluster.clone())
            .fetch_all(&self.pool),
        )
        .await?;
        let mut out: Vec<KeptSummary> = Vec::with_capacity(rows.len());
        for row in &rows {
            let revision: i64 = row.try_get(0)?;
            // A rollout deleted and made again under its name numbers its
            // revisions anew: the newest keeps the number.
            if out.iter().any(|s| s.revision == revision) {
                continue;
            }
            out.push(KeptSummary {
                revision,
                logs: row.try_get(1)?,
                unread: row.try_get(2)?,
                lines: row.try_get(3)?,
                error_lines: row.try_get(4)?,
                captured_at: row.try_get(5)?,
            });
        }
        Ok(out)
    }

    /// The logs revision `revision` of `key` kept, pod by pod.
    pub async fn pod_logs(
        &self,
        key: &RolloutKey,
        revision: i64,
    ) -> Result<Vec<KeptLog>, StoreError> {
        let rows = timed(
            sqlx::query(
                "SELECT l.pod, l.container, l.captured_at, l.reason, l.lines, l.dropped, l.problem
                 FROM history_pod_logs l
                 WHERE l.revision_id = (
                     SELECT MAX(r.id) FROM history_revisions r JOIN history_rollouts o ON r.rollout_id = o.id
                     WHERE o.namespace = $1 AND o.name = $2 AND r.revision = $3 AND o.cluster = $4)
                 ORDER BY l.pod, l.container",
            )
            .bind(key.namespace.clone())
            .bind(key.name.clone())
            .bind(revision)
            .bind(self.cluster.clone())
            .fetch_all(&self.pool),
        )
        .await?;
        let mut out = Vec::with_capacity(rows.len());
        for row in &rows {
            let reason: String = row.try_get(3)?;
            let lines: String = row.try_get(4)?;
            let dropped: i64 = row.try_get(5)?;
            out.push(KeptLog {
                pod: row.try_get(0)?,
                container: row.try_get(1)?,
                captured_at: row.try_get(2)?,
                reason: Outcome::parse(&reason).unwrap_or(Outcome::Aborted),
                lines: decode(&lines),
                dropped: u64::try_from(dropped).unwrap_or(0),
                problem: row.try_get(6)?,
            });
        }
        Ok(out)
    }
}
