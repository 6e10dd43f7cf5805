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

-- Rows per `jobs` status ('jobs.pending', 'jobs.running', 'jobs.done') and in `dead_letter`
-- ('dead_letter'). Every writer keeps them right, the sqlite3 shell included, because the
-- triggers below run inside the transaction that changes the rows.
CREATE TABLE row_counts (
    name TEXT PRIMARY KEY,
    n    INTEGER NOT NULL
) WITHOUT ROWID;

INSERT INTO row_counts (name, n) SELECT 'jobs.' || status, count(*) FROM jobs GROUP BY status;
INSERT INTO row_counts (name, n) SELECT 'dead_letter', count(*) FROM dead_letter;

CREATE TRIGGER jobs_count_insert AFTER INSERT ON jobs BEGIN
    INSERT INTO row_counts (name, n) VALUES ('jobs.' || NEW.status, 1)
        ON CONFLICT (name) DO UPDATE SET n = n + 1;
END;

CREATE TRIGGER jobs_count_update AFTER UPDATE OF status ON jobs
WHEN OLD.status IS NOT NEW.status BEGIN
    UPDATE row_counts SET n = n - 1 WHERE name = 'jobs.' || OLD.status;
    INSERT INTO row_counts (name, n) VALUES ('jobs.' || NEW.status, 1)
        ON CONFLICT (name) DO UPDATE SET n = n + 1;
END;

CREATE TRIGGER jobs_count_delete AFTER DELETE ON jobs BEGIN
    UPDATE row_counts SET n = n - 1 WHERE name = 'jobs.' || OLD.status;
END;

CREATE TRIGGER dead_letter_count_insert AFTER INSERT ON dead_letter BEGIN
    UPDATE row_counts SET n = n + 1 WHERE name = 'dead_letter';
END;

CREATE TRIGGER dead_letter_count_delete AFTER DELETE ON dead_letter BEGIN
    UPDATE row_counts SET n = n - 1 WHERE name = 'dead_letter';
END;
