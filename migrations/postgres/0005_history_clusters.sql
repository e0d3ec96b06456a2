-- Several clusters in one history: rollouts, actions and gaps carry the
-- cluster they are of, named as in the dashboard's URLs; '' is the
-- dashboard's own cluster (its first: the one it runs in, or the first
-- context), so what one cluster's dashboard recorded before stays its.
-- Revisions, steps, events, pod logs and templates belong to a rollout's
-- row and so to its cluster.

ALTER TABLE history_rollouts ADD COLUMN cluster TEXT NOT NULL DEFAULT '';
ALTER TABLE history_rollouts DROP CONSTRAINT history_rollouts_namespace_name_uid_key;
ALTER TABLE history_rollouts ADD CONSTRAINT history_rollouts_cluster_namespace_name_uid_key
    UNIQUE (cluster, namespace, name, uid);

ALTER TABLE history_attributions ADD COLUMN cluster TEXT NOT NULL DEFAULT '';
DROP INDEX history_attributions_at;
CREATE INDEX history_attributions_at ON history_attributions (cluster, namespace, name, at);

ALTER TABLE history_gaps ADD COLUMN cluster TEXT NOT NULL DEFAULT '';
