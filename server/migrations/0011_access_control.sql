-- Access control: tenant names, admins with per-tenant permissions,
-- sessions with idle expiry, API tokens (only a hash of each secret).
ALTER TABLE tenants ADD COLUMN name TEXT NOT NULL DEFAULT '';
UPDATE tenants SET name = 'Default' WHERE slug = 'default' AND name = '';

ALTER TABLE admins ADD COLUMN enabled INTEGER NOT NULL DEFAULT 1;
ALTER TABLE admins ADD COLUMN super_admin INTEGER NOT NULL DEFAULT 0;
-- {"tenant": ["read", ...]}
ALTER TABLE admins ADD COLUMN permissions TEXT NOT NULL DEFAULT '{}';
-- Admins made before access control existed: the bootstrap admin.
UPDATE admins SET super_admin = 1;

ALTER TABLE sessions ADD COLUMN last_seen INTEGER NOT NULL DEFAULT 0;

CREATE TABLE api_tokens (
    id TEXT PRIMARY KEY,
    secret_hash TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    owner TEXT NOT NULL REFERENCES admins(username) ON DELETE CASCADE,
    tenant TEXT NOT NULL,
    permissions TEXT NOT NULL,
    expires_at INTEGER NOT NULL,
    created_at TEXT NOT NULL,
    revoked_at TEXT
);
CREATE INDEX api_tokens_by_owner ON api_tokens (owner);
