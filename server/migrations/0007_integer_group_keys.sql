-- Memberships keyed by the group's integer id instead of (tenant,
-- repository_id, group_uuid) text: every member row of a sync is written to
-- two b-trees, and with the text keys each entry was twice as long and every
-- comparison walked the tenant and repository first (a 100,000-user sync
-- writes ~110,000 member rows; this halves their cost). The id is an explicit
-- INTEGER PRIMARY KEY so VACUUM cannot renumber it.
CREATE TABLE groups_v2 (
    id INTEGER PRIMARY KEY,
    tenant TEXT NOT NULL,
    repository_id TEXT NOT NULL,
    ldap_uuid TEXT NOT NULL,
    name TEXT NOT NULL,
    ldap_dn TEXT NOT NULL,
    -- normalized DN: what member values of parent groups are matched against
    dn_key TEXT NOT NULL,
    content_hash BLOB NOT NULL,
    synced_at TEXT NOT NULL,
    source_hash BLOB,
    UNIQUE (tenant, repository_id, ldap_uuid)
);
INSERT INTO groups_v2 (id, tenant, repository_id, ldap_uuid, name, ldap_dn, dn_key, content_hash, synced_at, source_hash)
    SELECT rowid, tenant, repository_id, ldap_uuid, name, ldap_dn, dn_key, content_hash, synced_at, source_hash FROM groups;

CREATE TABLE group_members_v2 (
    group_id INTEGER NOT NULL,
    member_key TEXT NOT NULL,
    PRIMARY KEY (group_id, member_key)
) WITHOUT ROWID;
INSERT INTO group_members_v2 (group_id, member_key)
    SELECT g.id, m.member_key FROM group_members m
    JOIN groups_v2 g ON g.tenant = m.tenant AND g.repository_id = m.repository_id AND g.ldap_uuid = m.group_uuid;

DROP TABLE group_members;
DROP TABLE groups;
ALTER TABLE groups_v2 RENAME TO groups;
ALTER TABLE group_members_v2 RENAME TO group_members;
CREATE INDEX groups_by_name ON groups (tenant, repository_id, name);
CREATE INDEX groups_by_dn_key ON groups (tenant, repository_id, dn_key);
-- A user's groups: its keys, then the groups' tenant and repository by id.
CREATE INDEX group_members_by_member ON group_members (member_key);
