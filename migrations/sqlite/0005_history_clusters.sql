-- Several clusters in one history: rollouts, actions and gaps carry the
-- cluster they are of, named as in the dashboard's URLs; '' is the
-- dashboard's own cluster (its first: the one it runs in, or the first
-- context), so what one cluster's dashboard recorded before stays its.
-- Revisions, steps, events, pod logs and templates belong to a rollout's
-- row and so to its cluster. SQLite changes a UNIQUE constraint only by
-- making the table anew.

CREATE TABLE history_rollouts_clustered (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    cluster TEXT NOT NULL DEFAULT '',
    namespace TEXT NOT NULL,
    name TEXT NOT NULL,
    uid TEXT NOT NULL,
    tracked TEXT NOT NULL,
    updated_at BIGINT NOT NULL,
    UNIQUE (cluster, namespace, name, uid)
);
INSERT INTO history_rollouts_clustered (id, cluster, namespace, name, uid, tracked, updated_at)
    SELECT id, '', namespace, name, uid, tracked, updated_at FROM history_rollouts;
DROP TABLE history_rollouts;
ALTER TABLE history_rollouts_clustered RENAME TO history_rollouts;

ALTER TABLE history_attributions ADD COLUMN cluster TEXT NOT NULL DEFAULT '';
DROP INDEX history_attributions_at;
CREATE INDEX history_attributions_at ON history_attributions (cluster, namespace, name, at);

ALTER TABLE history_gaps ADD COLUMN cluster TEXT NOT NULL DEFAULT '';
