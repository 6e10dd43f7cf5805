-- nightshift schema: a dead letter keeps the `[[limit]]` its job counted against, so a replayed
-- job counts against it again (and its replay closes that limit's breaker).
ALTER TABLE dead_letter ADD COLUMN limit_name TEXT;
