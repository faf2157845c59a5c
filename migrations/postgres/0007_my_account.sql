-- "Mon compte" (issue #8).

-- A mobile given by its holder waits for the one-time code sent to it by SMS; only then does
-- it become the account's mobile. The code is kept as a keyed hash, with its expiry and the
-- tries left.
ALTER TABLE accounts ADD COLUMN pending_mobile TEXT;
ALTER TABLE accounts ADD COLUMN pending_mobile_code_hash TEXT;
ALTER TABLE accounts ADD COLUMN pending_mobile_expires_at BIGINT;
ALTER TABLE accounts ADD COLUMN pending_mobile_tries BIGINT NOT NULL DEFAULT 0;

-- A guardian account closed by a merge points to the account that took its children.
ALTER TABLE accounts ADD COLUMN merged_into BIGINT REFERENCES accounts (id);

-- Automatic regrouping: an import found a new guardian record whose names and e-mail or
-- mobile match an account already in use. The record is not given an account of its own; the
-- holder of the matching account is asked, at the next sign-in, to confirm the children's
-- birth dates. A declined proposal (or one whose dates were mistyped too often) stays, so that
-- it is not asked again; the next import then gives the record an account of its own.
CREATE TABLE regroup_proposals (
    guardian_id  BIGINT PRIMARY KEY REFERENCES guardians (id),
    account_id   BIGINT NOT NULL REFERENCES accounts (id),
    created_at   BIGINT NOT NULL,
    tries_left   BIGINT NOT NULL DEFAULT 5,
    declined_at  BIGINT
);
CREATE INDEX regroup_proposals_account ON regroup_proposals (account_id);

-- Finding the account an imported guardian may already have, by contact. Most accounts
-- have no e-mail or mobile of their own (pupils, accounts not yet activated): partial indexes
-- cost an import nothing for them.
CREATE INDEX accounts_email ON accounts (email) WHERE email IS NOT NULL;
CREATE INDEX accounts_mobile ON accounts (mobile) WHERE mobile IS NOT NULL;
CREATE INDEX guardians_email ON guardians (email) WHERE email IS NOT NULL;
