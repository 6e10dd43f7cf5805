-- nightshift schema: provider limits. A job may name a `[[limit]]` (`jobs.limit_name`; `limit`
-- is an SQL keyword). The definitions (concurrency, rate, cost cap, breaker) come from each
-- runner's config; the state runners must agree on lives here: `limits` (a 429's hold and the
-- limit's own breaker) and `limit_claims`, the sliding window of recent claims a rate counts.
-- `spend.limit_name` charges spend to the job's limit, for `cost_usd_per_day` and
-- `spend --by limit`.
ALTER TABLE jobs ADD COLUMN limit_name TEXT;
CREATE INDEX jobs_limit_running ON jobs (limit_name, status) WHERE limit_name IS NOT NULL;
ALTER TABLE spend ADD COLUMN limit_name TEXT;
CREATE TABLE limits (
    name               TEXT PRIMARY KEY,
    held_until         INTEGER,
    breaker_failures   INTEGER NOT NULL DEFAULT 0,
    breaker_open_until INTEGER
);
CREATE TABLE limit_claims (
    name TEXT NOT NULL,
    at   INTEGER NOT NULL
);
CREATE INDEX limit_claims_name_at ON limit_claims (name, at);
