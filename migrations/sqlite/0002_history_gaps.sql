-- Times the history could not be written. namespace and name are '' for
-- the database as a whole (it was unavailable; what happened meanwhile was
-- kept and written after unless lost says otherwise), else the one rollout
-- whose changes from started_at to ended_at could not be kept.

CREATE TABLE history_gaps (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    namespace TEXT NOT NULL,
    name TEXT NOT NULL,
    started_at BIGINT NOT NULL,
    ended_at BIGINT NOT NULL,
    lost BIGINT NOT NULL,
    reason TEXT NOT NULL
);
CREATE INDEX history_gaps_ended ON history_gaps (ended_at);
