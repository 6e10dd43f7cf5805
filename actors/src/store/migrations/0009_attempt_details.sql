-- nightshift schema: each attempt's start and cost, for the job page (time, duration, exit
-- status, error, cost of every attempt). `started_at` is set when an attempt is claimed, in the
-- same UPDATE; a failed attempt copies it into its entry of `errors` (with its cost), and the
-- attempt that finishes the job leaves it beside `finished_at`, with its cost in `cost_micros`.
ALTER TABLE jobs ADD COLUMN started_at INTEGER;
ALTER TABLE jobs ADD COLUMN cost_micros INTEGER;
