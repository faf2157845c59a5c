-- School imports (SPEC §5, issue #7).
-- The base form `prenom.nom` an identifier was made from, so that finding the free suffix is
-- one indexed lookup on both backends (a LIKE prefix cannot use the index under every
-- collation). Identifiers issued before this column are their own base without the suffix.
ALTER TABLE accounts ADD COLUMN identifier_base TEXT;
UPDATE accounts SET identifier_base = rtrim(identifier, '0123456789');
CREATE INDEX accounts_identifier_base ON accounts (identifier_base);

-- Why an account is disabled: 'left_school' (set by an import after the grace period, undone
-- when the pupil is enrolled again); other reasons are set by staff and never undone here.
ALTER TABLE accounts ADD COLUMN disabled_reason TEXT;

-- A pupil who moves keeps their account: the new school's record is matched by INE.
CREATE INDEX pupils_ine ON pupils (ine);
