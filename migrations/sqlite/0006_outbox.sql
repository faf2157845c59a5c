-- Outgoing e-mails and SMS (issue #7). A message is written in the same transaction as the
-- change that causes it, then sent by a worker on any node: nothing is lost while SMTP or the
-- SMS gateway is down. A worker claims a message by moving next_attempt_at past a lease, so
-- two nodes never send it at once; sent_at is set once it was accepted.
CREATE TABLE outbox (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    channel          TEXT NOT NULL CHECK (channel IN ('email', 'sms')),
    recipient        TEXT NOT NULL,
    subject          TEXT NOT NULL DEFAULT '',
    body_text        TEXT NOT NULL,
    body_html        TEXT,
    account_id       BIGINT REFERENCES accounts (id),
    created_at       BIGINT NOT NULL,
    attempts         BIGINT NOT NULL DEFAULT 0,
    next_attempt_at  BIGINT NOT NULL,
    sent_at          BIGINT,
    failed_at        BIGINT,
    last_error       TEXT
);
CREATE INDEX outbox_due ON outbox (next_attempt_at) WHERE sent_at IS NULL AND failed_at IS NULL;

-- An e-mail address given by its holder waits for the link sent to it; only then does it
-- become the account's confirmed e-mail.
ALTER TABLE accounts ADD COLUMN pending_email TEXT;
ALTER TABLE accounts ADD COLUMN pending_email_token_hash TEXT;
ALTER TABLE accounts ADD COLUMN pending_email_expires_at BIGINT;
