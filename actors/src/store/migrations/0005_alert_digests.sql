-- nightshift schema, version 5: the DeadLetter actor decides how dead-letter alerts go out.
-- A dead-letter alert is written held, in the transaction that buries its job; once its
-- group_wait is over the DeadLetter actor releases it, alone or as a member of a digest (a
-- storm), and only then does the Alert actor deliver it. Rows owed before this version are not
-- held: they go out alone. Held rows are found through `alerts_due` (they are pending), so no
-- index of their own.
ALTER TABLE alerts ADD COLUMN held INTEGER NOT NULL DEFAULT 0;
-- The digest a released row goes out in: its first member's id. NULL goes out alone.
ALTER TABLE alerts ADD COLUMN digest INTEGER;
