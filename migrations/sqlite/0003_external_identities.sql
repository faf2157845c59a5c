-- Matching guardians who sign in with FranceConnect (SPEC §2.4). An account has at most one
-- identity at each provider.
CREATE UNIQUE INDEX external_identities_one_per_account ON external_identities (provider, account_id);
-- Each guardian record keeps
-- its last name folded for comparison (case, accents, hyphens, apostrophes), written by the
-- import and filled in at start for records imported before this column existed.
ALTER TABLE guardians ADD COLUMN match_last_name TEXT;
CREATE INDEX guardians_match_last_name ON guardians (match_last_name);
