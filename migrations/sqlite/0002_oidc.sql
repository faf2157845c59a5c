-- OpenID Connect provider: signing keys shared by every node, deployment settings, grants
-- (one per authorization, the "family" of its refresh tokens), refresh tokens, consents.

CREATE TABLE settings (
    name   TEXT PRIMARY KEY,
    value  TEXT NOT NULL
);

CREATE TABLE signing_keys (
    kid                TEXT PRIMARY KEY,
    alg                TEXT NOT NULL CHECK (alg IN ('ES256', 'RS256')),
    -- PKCS#8 private key, sealed with a key derived from the server secret (base64)
    sealed_private_key TEXT NOT NULL,
    created_at         BIGINT NOT NULL,
    retired_at         BIGINT
);

CREATE TABLE oidc_grants (
    id          TEXT PRIMARY KEY,
    client_id   TEXT NOT NULL,
    account_id  BIGINT NOT NULL REFERENCES accounts (id),
    scope       TEXT NOT NULL,
    auth_time   BIGINT NOT NULL,
    origin      TEXT NOT NULL,
    session_id  TEXT,
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL,
    revoked_at  BIGINT
);
CREATE INDEX oidc_grants_account ON oidc_grants (account_id);

CREATE TABLE refresh_tokens (
    token_hash  TEXT PRIMARY KEY,
    grant_id    TEXT NOT NULL REFERENCES oidc_grants (id),
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL,
    used_at     BIGINT
);
CREATE INDEX refresh_tokens_grant ON refresh_tokens (grant_id);

CREATE TABLE consents (
    account_id  BIGINT NOT NULL REFERENCES accounts (id),
    client_id   TEXT NOT NULL,
    scope       TEXT NOT NULL,
    granted_at  BIGINT NOT NULL,
    PRIMARY KEY (account_id, client_id)
);
