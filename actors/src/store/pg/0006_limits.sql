-- nightshift schema for PostgreSQL: provider limits, as SQLite's migrations/0011_limits.sql
-- adds them. The claim locks a limit's row FOR UPDATE, so runners sharing the database count
-- its running jobs and its window one at a time.
ALTER TABLE jobs ADD COLUMN limit_name TEXT;
CREATE INDEX jobs_limit_running ON jobs (limit_name, status) WHERE limit_name IS NOT NULL;
ALTER TABLE spend ADD COLUMN limit_name TEXT;
CREATE TABLE limits (
    name               TEXT PRIMARY KEY,
    held_until         BIGINT,
    breaker_failures   INTEGER NOT NULL DEFAULT 0,
    breaker_open_until BIGINT
);
CREATE TABLE limit_claims (
    name TEXT NOT NULL,
    at   BIGINT NOT NULL
);
CREATE INDEX limit_claims_name_at ON limit_claims (name, at);
