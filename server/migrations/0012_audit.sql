-- The audit log: appended to, read, and pruned by age only.
CREATE TABLE audit (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    -- NULL: not of one tenant (admins, tokens, sign-ins).
    tenant TEXT,
    at TEXT NOT NULL,
    actor TEXT NOT NULL,
    address TEXT NOT NULL,
    action TEXT NOT NULL,
    target TEXT NOT NULL,
    diff TEXT NOT NULL
);
CREATE INDEX audit_by_tenant ON audit (tenant, id);
CREATE INDEX audit_by_time ON audit (at);
