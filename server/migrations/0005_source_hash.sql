-- Change detection before mapping: the hash of the entry as the directory
-- sent it (with the mapping configuration), and the order the directory
-- returns users in (first-seen order), so a run reads the stored hashes
-- sequentially alongside the directory instead of one random lookup each.
ALTER TABLE users ADD COLUMN source_hash BLOB;
ALTER TABLE users ADD COLUMN seq INTEGER;
CREATE INDEX users_in_read_order ON users (tenant, repository_id, seq, ldap_uuid, source_hash);
-- Groups likewise (few enough that a run loads their hashes up front).
ALTER TABLE groups ADD COLUMN source_hash BLOB;
