-- School administration (issue #9).

-- The step of the last TOTP code a staff member used: a code is accepted once, whichever node
-- sees it.
ALTER TABLE staff ADD COLUMN totp_last_step BIGINT;

-- Listing a school's guardians with their children (the administration's search).
CREATE INDEX guardians_uai ON guardians (uai);
