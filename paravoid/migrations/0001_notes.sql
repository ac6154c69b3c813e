-- paravoid schema, version 1: sealed notes.
--
-- One row per note. `sealed` is AES-256-GCM under the key of the note's expiry epoch, which
-- never enters the database (see `store/postgres/epoch_keys.rs`): its plaintext is
-- `qsmm_shield::note::StoredNote::to_bytes()` (the ML-KEM-768 encapsulation key, KEM
-- ciphertext, AES-GCM nonce and ciphertext, passphrase parameters and key check), preceded for
-- an end-to-end note by the SHA-256 hashes of its claim tokens. No decapsulation key, seed,
-- classical secret, passphrase, token or message is ever stored. `expires_at` is in Unix
-- seconds; `failed_attempts` counts wrong passphrases.
CREATE TABLE IF NOT EXISTS paravoid_notes (
    id uuid PRIMARY KEY,
    expires_at bigint NOT NULL CHECK (expires_at >= 0),
    failed_attempts smallint NOT NULL DEFAULT 0 CHECK (failed_attempts >= 0),
    passphrase_required boolean NOT NULL,
    end_to_end boolean NOT NULL,
    key_epoch bigint NOT NULL CHECK (key_epoch >= 0),
    sealed bytea NOT NULL
);

-- The sweeper walks expired notes in time order without a full scan.
CREATE INDEX IF NOT EXISTS paravoid_notes_expires_at ON paravoid_notes (expires_at);

-- One-way fingerprints of future store keys, so that an instance started with another key
-- file is refused instead of failing on every note.
CREATE TABLE IF NOT EXISTS paravoid_store_key_check (
    epoch bigint PRIMARY KEY,
    fingerprint bytea NOT NULL
);
