-- nightshift schema, version 2: the state the daily cap and the circuit breaker persist.
ALTER TABLE control ADD COLUMN breaker_probe TEXT;      -- key of the half-open probe in flight
ALTER TABLE control ADD COLUMN cap_alerted_day TEXT;    -- UTC day the cap_hit alert went out
