-- Tenant-wide user listings merge one range of users_by_repository_username
-- per repository (see store::push_listing), so the tenant-wide username index
-- only cost time: every user a sync writes updated it.
DROP INDEX users_by_username;
