-- Foundation schema (SPEC §5). Integers are 64-bit, times are Unix seconds, dates are
-- 'YYYY-MM-DD' text, flags are 0/1 integers: the same SQL then reads the same on both backends.

CREATE TABLE schools (
    uai       TEXT PRIMARY KEY,
    name      TEXT NOT NULL,
    academie  TEXT NOT NULL,
    degree    TEXT NOT NULL CHECK (degree IN ('1d', '2d'))
);

CREATE TABLE classes (
    id    INTEGER PRIMARY KEY AUTOINCREMENT,
    uai   TEXT NOT NULL REFERENCES schools (uai),
    name  TEXT NOT NULL,
    UNIQUE (uai, name)
);

CREATE TABLE accounts (
    id                     INTEGER PRIMARY KEY AUTOINCREMENT,
    identifier             TEXT NOT NULL UNIQUE,
    kind                   TEXT NOT NULL CHECK (kind IN ('eleve', 'responsable')),
    state                  TEXT NOT NULL CHECK (state IN ('active', 'disabled', 'closed')),
    first_name             TEXT NOT NULL,
    last_name              TEXT NOT NULL,
    birth_date             TEXT,
    password_hash          TEXT,
    temporary_secret_hash  TEXT,
    temporary_expires_at   BIGINT,
    email                  TEXT,
    email_confirmed        BIGINT NOT NULL DEFAULT 0,
    mobile                 TEXT,
    created_at             BIGINT NOT NULL,
    updated_at             BIGINT NOT NULL,
    activated_at           BIGINT,
    locked_until           BIGINT
);

CREATE TABLE pupils (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    uai         TEXT NOT NULL REFERENCES schools (uai),
    source_id   TEXT NOT NULL,
    ine         TEXT,
    last_name   TEXT NOT NULL,
    first_name  TEXT NOT NULL,
    birth_date  TEXT NOT NULL,
    class_id    BIGINT REFERENCES classes (id),
    level       TEXT,
    account_id  BIGINT REFERENCES accounts (id),
    left_at     BIGINT,
    UNIQUE (uai, source_id)
);
CREATE INDEX pupils_account ON pupils (account_id);
CREATE INDEX pupils_class ON pupils (class_id);

CREATE TABLE guardians (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    uai         TEXT NOT NULL REFERENCES schools (uai),
    source_id   TEXT NOT NULL,
    civility    TEXT,
    last_name   TEXT NOT NULL,
    first_name  TEXT NOT NULL,
    email       TEXT,
    mobile      TEXT,
    account_id  BIGINT REFERENCES accounts (id),
    UNIQUE (uai, source_id)
);
CREATE INDEX guardians_account ON guardians (account_id);
CREATE INDEX guardians_mobile ON guardians (mobile);

CREATE TABLE guardianships (
    pupil_id     BIGINT NOT NULL REFERENCES pupils (id),
    guardian_id  BIGINT NOT NULL REFERENCES guardians (id),
    rank         TEXT NOT NULL CHECK (rank IN ('1', '2', 'autre')),
    PRIMARY KEY (pupil_id, guardian_id)
);
CREATE INDEX guardianships_guardian ON guardianships (guardian_id);

CREATE TABLE external_identities (
    provider    TEXT NOT NULL,
    subject     TEXT NOT NULL,
    account_id  BIGINT NOT NULL REFERENCES accounts (id),
    created_at  BIGINT NOT NULL,
    PRIMARY KEY (provider, subject)
);
CREATE INDEX external_identities_account ON external_identities (account_id);

CREATE TABLE staff (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    identifier     TEXT NOT NULL UNIQUE,
    first_name     TEXT NOT NULL,
    last_name      TEXT NOT NULL,
    email          TEXT,
    password_hash  TEXT,
    totp_secret    TEXT,
    role           TEXT NOT NULL CHECK (role IN ('school_admin', 'platform_admin')),
    state          TEXT NOT NULL CHECK (state IN ('active', 'disabled')),
    created_at     BIGINT NOT NULL
);

CREATE TABLE staff_schools (
    staff_id  BIGINT NOT NULL REFERENCES staff (id),
    uai       TEXT NOT NULL REFERENCES schools (uai),
    PRIMARY KEY (staff_id, uai)
);

CREATE TABLE audit_events (
    id                  INTEGER PRIMARY KEY AUTOINCREMENT,
    at                  BIGINT NOT NULL,
    event               TEXT NOT NULL,
    actor               TEXT NOT NULL,
    subject_account_id  BIGINT,
    source_address      TEXT,
    details             TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_events_subject ON audit_events (subject_account_id, at);

-- The audit log is append-only.
CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events
BEGIN SELECT RAISE(ABORT, 'audit events are append-only'); END;
CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events
BEGIN SELECT RAISE(ABORT, 'audit events are append-only'); END;
