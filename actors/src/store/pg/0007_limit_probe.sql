-- nightshift schema for PostgreSQL: a limit breaker's half-open probe, as SQLite's
-- migrations/0012_limit_probe.sql adds it.
ALTER TABLE limits ADD COLUMN breaker_cooldown_ms BIGINT;
ALTER TABLE limits ADD COLUMN breaker_probe TEXT;
