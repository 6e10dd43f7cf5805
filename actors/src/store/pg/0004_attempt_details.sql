-- nightshift schema for PostgreSQL: each attempt's start and cost, as SQLite's
-- migrations/0009_attempt_details.sql adds them.
ALTER TABLE jobs ADD COLUMN started_at BIGINT;
ALTER TABLE jobs ADD COLUMN cost_micros BIGINT;
