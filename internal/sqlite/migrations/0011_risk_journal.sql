-- The risk journal (riskjournal.go): decisions append their writes to a
-- log and return; a background writer applies them here in batches.
-- jseq is the journal sequence number of an event applied from it, and
-- risk_journal.applied the last number applied, written in the same
-- transaction, so a replay after a crash applies nothing twice.
ALTER TABLE risk_events ADD COLUMN jseq INTEGER;
CREATE TABLE risk_journal (
    id      INTEGER PRIMARY KEY CHECK (id = 1),
    applied INTEGER NOT NULL
);
INSERT INTO risk_journal (id, applied) VALUES (1, 0);
