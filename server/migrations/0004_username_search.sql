-- Case-insensitive username search and listing served by indexes: a prefix
-- search is a range on lower(username) (LIKE cannot use a BINARY index).
DROP INDEX users_by_username;
DROP INDEX users_by_repository_username;
CREATE INDEX users_by_username ON users (tenant, lower(username));
CREATE INDEX users_by_repository_username ON users (tenant, repository_id, lower(username));
