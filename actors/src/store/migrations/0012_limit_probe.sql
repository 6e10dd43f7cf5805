-- nightshift schema: a limit's own breaker gets the global breaker's half-open probe. Once its
-- cooldown ends one job of the limit is claimed as the probe (`breaker_probe`, its key) while
-- the others wait; the probe's failure re-opens the breaker for twice the last cooldown
-- (`breaker_cooldown_ms`), its success closes it.
ALTER TABLE limits ADD COLUMN breaker_cooldown_ms INTEGER;
ALTER TABLE limits ADD COLUMN breaker_probe TEXT;
