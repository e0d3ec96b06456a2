//! Revisions' pod templates in the history database (`history_templates`):
//! written once when a revision is first seen, read for what a revision
//! changed after its ReplicaSet is gone.

use sqlx::Row;

use super::store::{Store, StoreError, timed};
use crate::model::RolloutKey;

impl Store {
    /// Keeps `template` (JSON) as revision `revision`'s of the rollout
    /// `key` with `uid`; the first kept stays. `false` when that revision
    /// is not recorded (yet).
    pub async fn keep_template(
        &self,
        key: &RolloutKey,
        uid: &str,
        revision: i64,
        template: &str,
    ) -> Result<bool, StoreError> {
        let written = timed(
            sqlx::query(
                "INSERT INTO history_templates (revision_id, template)
                 SELECT r.id, $5 FROM history_revisions r JOIN history_rollouts o ON r.rollout_id = o.id
                 WHERE o.namespace = $1 AND o.name = $2 AND o.uid = $3 AND r.revision = $4 AND o.cluster = $6
                 ON CONFLICT (revision_id) DO NOTHING",
            )
            .bind(key.namespace.clone())
            .bind(key.name.clone())
            .bind(uid.to_string())
            .bind(revision)
            .bind(template.to_string())
            .bind(self.cluster.clone())
            .execute(&self.pool),
        )
        .await?;
        if written.rows_affected() > 0 {
            return Ok(true);
        }
        // Nothing written: kept already, or the revision is not recorded.
        let known = timed(
            sqlx::query(
                "SELECT COUNT(*) FROM history_revisions r JOIN history_rollouts o ON r.rollout_id = o.id
                 WHERE o.namespace = $1 AND o.name = $2 AND o.uid = $3 AND r.revision = $4 AND o.cluster = $5",
            )
            .bind(key.namespace.clone())
            .bind(key.name.clone())
            .bind(uid.to_string())
            .bind(revision)
            .bind(self.cluster.clone())
            .fetch_one(&self.pool),
        )
        .await?;
        Ok(known.try_get::<i64, _>(0)? > 0)
    }

    /// Revision `revision` of `key`'s pod template (JSON), as kept.
    pub async fn template(
        &self,
        key: &RolloutKey,
        revision: i64,
    ) -> Result<Option<String>, StoreError> {
        let row = timed(
            sqlx::query(
                "SELECT t.template FROM history_templates t
                 WHERE t.revision_id = (
                     SELECT MAX(r.id) FROM history_revisions r JOIN history_rollouts o ON r.rollout_id = o.id
                     WHERE o.namespace = $1 AND o.name = $2 AND r.revision = $3 AND o.cluster = $4)",
            )
            .bind(key.namespace.clone())
            .bind(key.name.clone())
            .bind(revision)
            .bind(self.cluster.clone())
            .fetch_optional(&self.pool),
        )
        .await?;
        Ok(row.map(|r| r.try_get(0)).transpose()?)
    }
}
