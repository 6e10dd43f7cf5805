-- nightshift schema: snoozes and the ledger's model and tokens (issue 13, items 3 and 5).
-- A snooze (handler exit 75, or an upstream's rate_limited / overloaded) makes a job due again
-- without counting an attempt; `snoozes` counts them against `[retry] max_snoozes`. The spend
-- ledger records, beside each attempt's cost, its job's queue and the model and tokens the
-- handler reported, for `spend --by model|queue`.
--
-- Registered after 0002 (the `steps` table, added by another branch); the list of migrations
-- is applied by position, so this file is whichever entry follows the last one before it.

ALTER TABLE jobs ADD COLUMN snoozes BIGINT NOT NULL DEFAULT 0;

ALTER TABLE spend ADD COLUMN queue TEXT;
ALTER TABLE spend ADD COLUMN model TEXT;
ALTER TABLE spend ADD COLUMN tokens_in BIGINT;
ALTER TABLE spend ADD COLUMN tokens_out BIGINT;

-- The rows recorded before: their queue, while their job is still known.
UPDATE spend SET queue = coalesce(
    (SELECT queue FROM jobs WHERE jobs.key = spend.key),
    (SELECT queue FROM dead_letter WHERE dead_letter.key = spend.key));
