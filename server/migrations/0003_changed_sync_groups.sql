-- Where the next changed sync continues from: the RFC 4533 cookie of the
-- users and of the groups search, and the start of the last successful run
-- (the modifyTimestamp fallback reads from there minus an overlap).
CREATE TABLE sync_state (
    tenant TEXT NOT NULL,
    repository_id TEXT NOT NULL,
    users_cookie BLOB,
    groups_cookie BLOB,
    since TEXT NOT NULL,
    PRIMARY KEY (tenant, repository_id)
);

CREATE TABLE groups (
    tenant TEXT NOT NULL,
    repository_id TEXT NOT NULL,
    ldap_uuid TEXT NOT NULL,
    name TEXT NOT NULL,
    ldap_dn TEXT NOT NULL,
    -- normalized DN: what member values of parent groups are matched against
    dn_key TEXT NOT NULL,
    content_hash BLOB NOT NULL,
    synced_at TEXT NOT NULL,
    PRIMARY KEY (tenant, repository_id, ldap_uuid)
);
CREATE INDEX groups_by_name ON groups (tenant, repository_id, name);
CREATE INDEX groups_by_dn_key ON groups (tenant, repository_id, dn_key);

-- One row per member value: a normalized DN (member / uniqueMember) or a
-- lower-cased uid (memberUid).
CREATE TABLE group_members (
    tenant TEXT NOT NULL,
    repository_id TEXT NOT NULL,
    group_uuid TEXT NOT NULL,
    member_key TEXT NOT NULL,
    PRIMARY KEY (tenant, repository_id, group_uuid, member_key)
) WITHOUT ROWID;
CREATE INDEX group_members_by_member ON group_members (tenant, repository_id, member_key);

-- Scheduled runs: when each schedule last fired, so a restart neither
-- repeats nor forgets a run.
CREATE TABLE schedule_state (
    tenant TEXT NOT NULL,
    repository_id TEXT NOT NULL,
    mode TEXT NOT NULL,
    last_fired TEXT NOT NULL,
    PRIMARY KEY (tenant, repository_id, mode)
);

ALTER TABLE sync_runs ADD COLUMN group_counts TEXT;
