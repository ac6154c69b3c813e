-- paravoid schema, version 1: sealed notes.
--
-- One row per note. `note` holds `qsmm_shield::note::StoredNote::to_bytes()` (itself versioned):
-- the ML-KEM-768 encapsulation key, KEM ciphertext, AES-GCM nonce and ciphertext, passphrase
-- parameters and key check. No decapsulation key, seed, classical secret, passphrase or message
-- is ever stored. `expires_at` is in Unix seconds; `failed_attempts` counts wrong passphrases.
CREATE TABLE IF NOT EXISTS paravoid_notes (
    id uuid PRIMARY KEY,
    expires_at bigint NOT NULL CHECK (expires_at >= 0),
    failed_attempts smallint NOT NULL DEFAULT 0 CHECK (failed_attempts >= 0),
    note bytea NOT NULL
);

-- The sweeper walks expired notes in time order without a full scan.
CREATE INDEX IF NOT EXISTS paravoid_notes_expires_at ON paravoid_notes (expires_at);
