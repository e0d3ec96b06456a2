-- Release history: one row per rollout (and its recorder state), per
-- revision, per step entered, per event. Times are milliseconds since the
-- epoch. Rows are written only by the recorder that holds the Lease, except
-- history_attributions, written by whichever replica sent a person's action.

CREATE TABLE history_rollouts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    namespace TEXT NOT NULL,
    name TEXT NOT NULL,
    uid TEXT NOT NULL,
    tracked TEXT NOT NULL,
    updated_at BIGINT NOT NULL,
    UNIQUE (namespace, name, uid)
);

CREATE TABLE history_revisions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    rollout_id BIGINT NOT NULL,
    revision BIGINT NOT NULL,
    pod_template_hash TEXT NOT NULL,
    images TEXT NOT NULL,
    started_at BIGINT NOT NULL,
    ended_at BIGINT,
    outcome TEXT NOT NULL,
    UNIQUE (rollout_id, revision)
);
CREATE INDEX history_revisions_started ON history_revisions (started_at);

CREATE TABLE history_steps (
    revision_id BIGINT NOT NULL,
    attempt BIGINT NOT NULL,
    step_index BIGINT NOT NULL,
    description TEXT NOT NULL,
    entered_at BIGINT NOT NULL,
    left_at BIGINT,
    weight BIGINT,
    observed_percent REAL,
    PRIMARY KEY (revision_id, attempt, step_index)
);

CREATE TABLE history_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    revision_id BIGINT NOT NULL,
    kind TEXT NOT NULL,
    slot TEXT NOT NULL,
    at BIGINT NOT NULL,
    seen_at BIGINT NOT NULL,
    via TEXT NOT NULL,
    by_user TEXT,
    message TEXT NOT NULL,
    UNIQUE (revision_id, kind, slot)
);
CREATE INDEX history_events_seen ON history_events (kind, seen_at);

CREATE TABLE history_attributions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    namespace TEXT NOT NULL,
    name TEXT NOT NULL,
    kind TEXT NOT NULL,
    by_user TEXT,
    at BIGINT NOT NULL,
    used BIGINT NOT NULL
);
CREATE INDEX history_attributions_at ON history_attributions (namespace, name, at);
