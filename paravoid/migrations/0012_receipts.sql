-- paravoid schema: read receipts.
--
-- One row per receipt, keyed by the SHA-256 of its status token (one-way: the token itself is
-- shown once to the note's creator and never stored). `note_id` links a pending receipt to its
-- note; the transaction that deletes the note sets `status`, `changed_at` (whole minutes) and
-- clears `note_id`, so a settled row names no note. Status codes: 0 pending, 1 revealed,
-- 2 expired, 3 destroyed. The sweeper deletes a row at `keep_until` (the note's expiry plus a
-- week).
CREATE TABLE IF NOT EXISTS paravoid_receipts (
    token_hash bytea PRIMARY KEY CHECK (octet_length(token_hash) = 32),
    note_id uuid UNIQUE,
    status smallint NOT NULL CHECK (status BETWEEN 0 AND 3),
    changed_at bigint NOT NULL CHECK (changed_at >= 0),
    note_expires_at bigint NOT NULL CHECK (note_expires_at >= 0),
    keep_until bigint NOT NULL CHECK (keep_until >= 0),
    CHECK ((status = 0) = (note_id IS NOT NULL))
);

CREATE INDEX IF NOT EXISTS paravoid_receipts_keep_until ON paravoid_receipts (keep_until);
