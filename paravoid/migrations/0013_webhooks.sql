-- paravoid schema: signed webhooks for read receipts.
--
-- A receipt may carry a webhook: its URL, its 32-byte signing secret and the opaque 16-byte id
-- the call carries. `webhook_next_at` is the outbox: NULL while the note lives and once the
-- delivery is done; the statement that settles the receipt sets it (0: due at once); a claim
-- sets it to the end of its lease and counts `webhook_attempts`; a failed attempt sets the time
-- of the next one. A delivered (state 1) or abandoned (state 2) webhook forgets its URL and
-- secret; the row goes with its receipt at `keep_until`.
ALTER TABLE paravoid_receipts
    ADD COLUMN IF NOT EXISTS webhook_url text CHECK (octet_length(webhook_url) <= 2048),
    ADD COLUMN IF NOT EXISTS webhook_secret bytea CHECK (octet_length(webhook_secret) = 32),
    ADD COLUMN IF NOT EXISTS webhook_id bytea CHECK (octet_length(webhook_id) = 16),
    ADD COLUMN IF NOT EXISTS webhook_state smallint NOT NULL DEFAULT 0
        CHECK (webhook_state BETWEEN 0 AND 2),
    ADD COLUMN IF NOT EXISTS webhook_attempts smallint NOT NULL DEFAULT 0
        CHECK (webhook_attempts >= 0),
    ADD COLUMN IF NOT EXISTS webhook_next_at bigint;

CREATE INDEX IF NOT EXISTS paravoid_receipts_webhook_due ON paravoid_receipts (webhook_next_at)
    WHERE webhook_next_at IS NOT NULL;
