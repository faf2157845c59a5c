-- A guardian who activates an account may declare "Je ne suis pas le représentant légal de cet
-- élève" (SPEC §2.2): the link is then kept for the school to see, but no longer shown or
-- released. A later import does not clear the declaration.
ALTER TABLE guardianships ADD COLUMN disputed_at BIGINT;
