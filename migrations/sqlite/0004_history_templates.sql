-- Each recorded revision's pod template, read from its ReplicaSet when the
-- revision was first seen, so what a revision changed can be told after
-- Kubernetes forgets its ReplicaSet. Literal env values are kept only as a
-- digest (what changed shows, not the value); values from Secrets and
-- ConfigMaps are references by name in a template anyway.

CREATE TABLE history_templates (
    revision_id BIGINT PRIMARY KEY,
    template TEXT NOT NULL
);
