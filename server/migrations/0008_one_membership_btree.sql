-- Memberships in one b-tree: (member_key, group_id) is the primary key, so a
-- user's groups (and a group's parents) are found by key prefix, and each
-- member row of a sync is written once instead of twice (table + index;
-- the two b-trees were ~40% of a full sync's group phase). What needed the
-- index by group (a group's member count, its members when it changes or
-- goes) now comes from the group's row: `member_count` and `members`, its
-- member keys sorted and packed as `<byte length>:<key>` pieces.
ALTER TABLE groups ADD COLUMN member_count INTEGER NOT NULL DEFAULT 0;
ALTER TABLE groups ADD COLUMN members BLOB NOT NULL DEFAULT x'';
UPDATE groups SET
    member_count = (SELECT count(*) FROM group_members m WHERE m.group_id = groups.id),
    members = coalesce(
        (SELECT CAST(group_concat(length(CAST(m.member_key AS BLOB)) || ':' || m.member_key, '' ORDER BY m.member_key) AS BLOB)
         FROM group_members m WHERE m.group_id = groups.id),
        x''
    );

CREATE TABLE group_members_v2 (
    member_key TEXT NOT NULL,
    group_id INTEGER NOT NULL,
    PRIMARY KEY (member_key, group_id)
) WITHOUT ROWID;
INSERT INTO group_members_v2 (member_key, group_id)
    SELECT m.member_key, m.group_id FROM group_members m JOIN groups g ON g.id = m.group_id;
DROP TABLE group_members;
ALTER TABLE group_members_v2 RENAME TO group_members;
