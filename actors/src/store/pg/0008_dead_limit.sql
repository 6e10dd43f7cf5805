-- nightshift schema for PostgreSQL: a dead letter keeps its job's limit, as SQLite's
-- migrations/0013_dead_limit.sql adds it.
ALTER TABLE dead_letter ADD COLUMN limit_name TEXT;
