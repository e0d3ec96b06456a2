-- The last lines of each pod of a revision that was aborted or degraded,
-- read when it happened (before Argo scales the pods away), one row per
-- pod and container. lines is as the kubelet stamps them: one
-- "<RFC 3339 time> <text>" per line, at most the newest 200 lines or
-- 64 KiB; dropped counts those read but not kept. problem says why nothing
-- could be read (no pods/log right, the pod was gone), lines then empty.
-- Written by the recorder that holds the Lease; a second abort of the same
-- revision replaces its rows.

CREATE TABLE history_pod_logs (
    revision_id BIGINT NOT NULL,
    pod TEXT NOT NULL,
    container TEXT NOT NULL,
    captured_at BIGINT NOT NULL,
    reason TEXT NOT NULL,
    lines TEXT NOT NULL,
    line_count BIGINT NOT NULL,
    error_lines BIGINT NOT NULL,
    dropped BIGINT NOT NULL,
    problem TEXT,
    PRIMARY KEY (revision_id, pod, container)
);
