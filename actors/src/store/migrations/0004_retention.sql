-- nightshift schema, version 4: bounded growth. Indexes that let retention delete the oldest
-- finished rows a small batch at a time, and row counts kept by triggers, so `status` costs
-- the same with a million finished rows as with ten.

-- Finished jobs by finish time, so a prune batch reads the oldest first without a scan. Partial,
-- like the claim indexes: pending and running rows are never in it.
CREATE INDEX jobs_finished ON jobs (finished_at) WHERE status = 'done';
CREATE INDEX dead_letter_died ON dead_letter (died);
CREATE INDEX alerts_delivered ON alerts (delivered_at) WHERE state = 'delivered';
-- `status` counts the undelivered alerts (pending or given up) from this index alone.
CREATE INDEX alerts_undelivered ON alerts (state) WHERE state != 'delivered';

-- How many rows `jobs` and `dead_letter` hold, in one row. Every writer keeps it right, the
-- sqlite3 shell included, because the triggers run inside the transaction that inserts or
-- deletes. Only inserts and deletes are counted: `status` takes pending and running from their
-- partial indexes (live rows only) and done as the rest, so a claim or a completion fires no
-- trigger at all. Counting each status by triggers on every status change was measured to cost
-- the drain far more (a trigger per claim and per completion) for nothing `status` needs.
CREATE TABLE row_counts (
    id   INTEGER PRIMARY KEY CHECK (id = 1),
    jobs INTEGER NOT NULL,
    dead INTEGER NOT NULL
);
INSERT INTO row_counts (id, jobs, dead)
VALUES (1, (SELECT count(*) FROM jobs), (SELECT count(*) FROM dead_letter));

CREATE TRIGGER jobs_count_insert AFTER INSERT ON jobs BEGIN
    UPDATE row_counts SET jobs = jobs + 1 WHERE id = 1;
END;

CREATE TRIGGER jobs_count_delete AFTER DELETE ON jobs BEGIN
    UPDATE row_counts SET jobs = jobs - 1 WHERE id = 1;
END;

CREATE TRIGGER dead_letter_count_insert AFTER INSERT ON dead_letter BEGIN
    UPDATE row_counts SET dead = dead + 1 WHERE id = 1;
END;

CREATE TRIGGER dead_letter_count_delete AFTER DELETE ON dead_letter BEGIN
    UPDATE row_counts SET dead = dead - 1 WHERE id = 1;
END;
