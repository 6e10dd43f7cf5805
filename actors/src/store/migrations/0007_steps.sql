-- nightshift schema, version 7: memoized steps. A handler records each step's output while its
-- job runs (the runner's step socket, or `Job::step` when embedded); a later attempt of the same
-- job finds it and skips the work. Rows belong to a job key, whichever table the job is in now:
-- they are kept while the job is pending, running, done or dead-lettered (so `dlq replay`
-- resumes after the last good step), and deleted with the job (purge, retention, `dlq replay
-- --fresh`). `name` is the step's name as counted within one attempt (`fetch`, `fetch:2`, ...).
-- `cost_micros` is what the step cost when it was recorded, charged to `spend` at that moment.

CREATE TABLE steps (
    job_key     TEXT NOT NULL,
    name        TEXT NOT NULL,
    output      TEXT NOT NULL,
    cost_micros INTEGER NOT NULL DEFAULT 0,
    created_at  INTEGER NOT NULL,
    PRIMARY KEY (job_key, name)
);
