-- Tamper-evident audit log (issue #10). Events are written as before, with the change they
-- record; a sealer (every node, one at a time) then links each new event into a hash chain:
-- hash = SHA-256(previous hash, the event's fields). Sealing after the fact keeps the chain's
-- one lock out of every audited transaction (an import's lasts seconds). `idp audit verify`
-- recomputes the chain and reports its first broken link.
CREATE TABLE audit_chain (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id   BIGINT NOT NULL UNIQUE REFERENCES audit_events (id),
    prev_hash  TEXT NOT NULL,
    hash       TEXT NOT NULL,
    sealed_at  BIGINT NOT NULL
);

-- The chain's end: the one row sealers lock, one at a time.
CREATE TABLE audit_chain_head (
    id         BIGINT PRIMARY KEY CHECK (id = 1),
    last_hash  TEXT NOT NULL,
    sealed     BIGINT NOT NULL
);
INSERT INTO audit_chain_head (id, last_hash, sealed)
VALUES (1, '0000000000000000000000000000000000000000000000000000000000000000', 0);

CREATE TRIGGER audit_chain_no_update BEFORE UPDATE ON audit_chain
BEGIN SELECT RAISE(ABORT, 'the audit chain is append-only'); END;
CREATE TRIGGER audit_chain_no_delete BEFORE DELETE ON audit_chain
BEGIN SELECT RAISE(ABORT, 'the audit chain is append-only'); END;

-- Events waiting for the sealer, written in the same transaction as the event itself: the
-- sealer reads this short list instead of searching the whole log. The events written before
-- this migration wait here too.
CREATE TABLE audit_unsealed (
    event_id  BIGINT PRIMARY KEY REFERENCES audit_events (id)
);
INSERT INTO audit_unsealed (event_id) SELECT id FROM audit_events;
