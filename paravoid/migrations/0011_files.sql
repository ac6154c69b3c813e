-- paravoid schema: files of end-to-end notes.
--
-- One row per file in `paravoid_files`, holding no secret: its state (0 uploading, 1 complete,
-- 2 attached, 3 handed out by a claim), its expiry in Unix seconds, its sealed length, once
-- attached its note and manifest index, once claimed the SHA-256 of its download token, and
-- `row_mac`, HMAC-SHA-256 of all of these under a key derived from the epoch key of the expiry
-- (which never enters the database). The file's bytes are rows of `paravoid_file_chunks`, one
-- chunk sealed by the client each (at most 64 KiB + 16), deleted with their file. Their key is
-- inside the sealed note only.
CREATE TABLE IF NOT EXISTS paravoid_files (
    id uuid PRIMARY KEY,
    state smallint NOT NULL CHECK (state BETWEEN 0 AND 3),
    expires_at bigint NOT NULL CHECK (expires_at >= 0),
    sealed_size bigint NOT NULL CHECK (sealed_size >= 0),
    note uuid,
    position smallint CHECK (position >= 0),
    token_hash bytea CHECK (octet_length(token_hash) = 32),
    row_mac bytea NOT NULL
);

CREATE INDEX IF NOT EXISTS paravoid_files_expires_at ON paravoid_files (expires_at);
CREATE UNIQUE INDEX IF NOT EXISTS paravoid_files_note ON paravoid_files (note, position);

CREATE TABLE IF NOT EXISTS paravoid_file_chunks (
    file uuid NOT NULL REFERENCES paravoid_files (id) ON DELETE CASCADE,
    sequence integer NOT NULL CHECK (sequence >= 0),
    sealed bytea NOT NULL CHECK (octet_length(sealed) BETWEEN 1 AND 65552),
    PRIMARY KEY (file, sequence)
);

-- Sealed bytes do not compress: store them out of line as they are.
ALTER TABLE paravoid_file_chunks ALTER COLUMN sealed SET STORAGE EXTERNAL;
