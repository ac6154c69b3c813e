-- paravoid schema: requests for a secret.
--
-- One row per request. Nothing here is secret: `claim_hash` is the SHA-256 of a token derived
-- from the requester's link keys (one-way; it opens nothing). The response is a row of
-- `paravoid_notes` under the same id, inserted in the transaction that sets `answered`.
CREATE TABLE IF NOT EXISTS paravoid_requests (
    id uuid PRIMARY KEY,
    expires_at bigint NOT NULL CHECK (expires_at >= 0),
    answered boolean NOT NULL DEFAULT false,
    response_ttl_secs bigint NOT NULL CHECK (response_ttl_secs > 0),
    claim_hash bytea NOT NULL CHECK (octet_length(claim_hash) = 32)
);

CREATE INDEX IF NOT EXISTS paravoid_requests_expires_at ON paravoid_requests (expires_at);
