-- A directory entry of one repository linked at its first login to a user
-- of the tenant that came from another repository (login option
-- autoLinking, by username or e-mail): its later logins answer as that user.
CREATE TABLE user_links (
    tenant TEXT NOT NULL,
    repository_id TEXT NOT NULL,
    ldap_uuid TEXT NOT NULL,
    linked_user_id TEXT NOT NULL,
    linked_at TEXT NOT NULL,
    PRIMARY KEY (tenant, repository_id, ldap_uuid)
);
