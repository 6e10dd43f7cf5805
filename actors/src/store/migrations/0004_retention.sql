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

-- How many rows each `jobs` status and `dead_letter` hold, in one row. Every writer keeps it
-- right, the sqlite3 shell included, because the triggers below run inside the transaction
-- that changes the rows. One row and one UPDATE per trigger is the cheapest shape measured
-- (a row per status, or an upsert, cost more per job). A status added later needs a column
-- here and its term in the three `jobs` triggers.
CREATE TABLE row_counts (
    id      INTEGER PRIMARY KEY CHECK (id = 1),
    pending INTEGER NOT NULL,
    running INTEGER NOT NULL,
    done    INTEGER NOT NULL,
    dead    INTEGER NOT NULL
);
INSERT INTO row_counts (id, pending, running, done, dead) VALUES (
    1,
    (SELECT count(*) FROM jobs WHERE status = 'pending'),
    (SELECT count(*) FROM jobs WHERE status = 'running'),
    (SELECT count(*) FROM jobs WHERE status = 'done'),
    (SELECT count(*) FROM dead_letter)
);

CREATE TRIGGER jobs_count_insert AFTER INSERT ON jobs BEGIN
    UPDATE row_counts SET pending = pending + (NEW.status = 'pending'),
                          running = running + (NEW.status = 'running'),
                          done = done + (NEW.status = 'done')
    WHERE id = 1;
END;

CREATE TRIGGER jobs_count_update AFTER UPDATE OF status ON jobs
WHEN OLD.status IS NOT NEW.status BEGIN
    UPDATE row_counts SET pending = pending + (NEW.status = 'pending') - (OLD.status = 'pending'),
                          running = running + (NEW.status = 'running') - (OLD.status = 'running'),
                          done = done + (NEW.status = 'done') - (OLD.status = 'done')
    WHERE id = 1;
END;

CREATE TRIGGER jobs_count_delete AFTER DELETE ON jobs BEGIN
    UPDATE row_counts SET pending = pending - (OLD.status = 'pending'),
                          running = running - (OLD.status = 'running'),
                          done = done - (OLD.status = 'done')
    WHERE id = 1;
END;

CREATE TRIGGER dead_letter_count_insert AFTER INSERT ON dead_letter BEGIN
    UPDATE row_counts SET dead = dead + 1 WHERE id = 1;
END;

CREATE TRIGGER dead_letter_count_delete AFTER DELETE ON dead_letter BEGIN
    UPDATE row_counts SET dead = dead - 1 WHERE id = 1;
END;
