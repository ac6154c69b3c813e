-- paravoid schema, version 2: authenticated rows.
--
-- `row_mac` is HMAC-SHA-256, under a key derived from the row's epoch key (which never enters
-- the database), over the note id, `failed_attempts`, `key_epoch` and `expires_at`; the row's
-- `sealed` bytes are bound to `expires_at`, `passphrase_required` and `end_to_end` through the
-- AEAD's associated data. The service checks both before it acts on a row and recomputes the MAC
-- on every update of the counter, so a row edited in the database (a counter set back, an expiry
-- moved, values swapped between rows) is refused and deleted. Rows written before this version
-- have no MAC (NULL) and keep their former sealing until they are read or expire.
ALTER TABLE paravoid_notes ADD COLUMN IF NOT EXISTS row_mac bytea;
