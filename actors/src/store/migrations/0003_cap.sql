-- nightshift schema, version 3: the daily cap in force, as the last runner started with it, so
-- every process (`status` from another shell, a cron run's neighbours) shows the gate that
-- actually holds claims, not one computed from its own environment.
ALTER TABLE control ADD COLUMN cap_micros INTEGER;      -- NULL: that runner had no cap
ALTER TABLE control ADD COLUMN cap_set_by TEXT;         -- where that runner read its cap
ALTER TABLE control ADD COLUMN cap_recorded_at INTEGER; -- unix ms; NULL: no runner recorded one
