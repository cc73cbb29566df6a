CREATE TABLE tenants (
    slug TEXT PRIMARY KEY,
    created TEXT NOT NULL
);
INSERT INTO tenants (slug, created) VALUES ('default', strftime('%Y-%m-%dT%H:%M:%SZ', 'now'));

CREATE TABLE admins (
    username TEXT PRIMARY KEY,
    password_hash TEXT NOT NULL,
    created TEXT NOT NULL
);

-- Only a hash of each session token is stored.
CREATE TABLE sessions (
    token_hash TEXT PRIMARY KEY,
    username TEXT NOT NULL REFERENCES admins(username) ON DELETE CASCADE,
    expires_at INTEGER NOT NULL
);

-- The resource is stored as JSON without secrets; secrets are an AEAD
-- ciphertext bound to (tenant, id).
CREATE TABLE repositories (
    tenant TEXT NOT NULL REFERENCES tenants(slug),
    id TEXT NOT NULL,
    body TEXT NOT NULL,
    secrets BLOB,
    version INTEGER NOT NULL,
    created TEXT NOT NULL,
    changed TEXT NOT NULL,
    state TEXT NOT NULL DEFAULT 'active',
    PRIMARY KEY (tenant, id)
);

CREATE TABLE users (
    tenant TEXT NOT NULL,
    repository_id TEXT NOT NULL,
    ldap_uuid TEXT NOT NULL,
    username TEXT NOT NULL,
    ldap_dn TEXT NOT NULL,
    enabled INTEGER NOT NULL,
    body TEXT NOT NULL,
    content_hash BLOB NOT NULL,
    synced_at TEXT NOT NULL,
    PRIMARY KEY (tenant, repository_id, ldap_uuid)
);
CREATE INDEX users_by_username ON users (tenant, username);
