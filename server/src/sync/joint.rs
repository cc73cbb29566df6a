//! One content sync for a repository's users and groups together.
//!
//! OpenLDAP's provider answers a refresh from a cookie by walking its session
//! log: it looks every changed entry up against the search, whichever
//! subtree it is in. Two refreshes (users, then groups) pay that walk twice;
//! the groups' one mostly to learn that changed users are not groups. One
//! search from the common ancestor of both places, for users or groups, pays
//! it once; each entry it returns is told apart here by where it is.
//!
//! Telling them apart is sound when neither place lies inside the other: an
//! entry in the users' place matched the users' filter, unless it carries
//! the groups' object classes (then the run reads users and groups apart
//! instead); an entry in the groups' place is a group when it carries them.
//! Anything elsewhere is neither, which is what the two refreshes would
//! report as "deleted" for an entry that moved out.

use crate::dn;
use app::model::{Repository, Scope};

/// The search of a joint read and how to tell its entries apart.
#[derive(Clone, Debug)]
pub struct JointRead {
    /// The closest common ancestor of the users' and the groups' DNs.
    pub base: String,
    /// Users' filter OR groups' filter.
    pub filter: String,
    users_dn: String,
    users_one_level: bool,
    groups_dn: String,
    /// The groups' object classes, lower-cased.
    group_classes: Vec<String>,
}

/// What an entry of a joint read is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Part {
    User,
    Group,
    /// Outside both places: neither (any more).
    Neither,
    /// Cannot be told from its place and classes (a group entry among the
    /// users, an entry without the group classes among the groups).
    Unsure,
}

impl JointRead {
    /// The joint read of `repo`'s users (`users_filter`) and groups
    /// (`groups_filter`); None when their places nest or share no ancestor.
    pub fn of(repo: &Repository, users_filter: &str, groups_filter: &str) -> Option<JointRead> {
        let users_dn = repo.users.effective_users_dn().trim();
        let groups_dn = repo.groups.groups_dn.as_deref()?.trim();
        if users_dn.is_empty() || groups_dn.is_empty() || repo.groups.object_classes.is_empty() {
            return None;
        }
        if dn::is_within(users_dn, groups_dn) || dn::is_within(groups_dn, users_dn) {
            return None;
        }
        let base = common_ancestor(users_dn, groups_dn)?;
        Some(JointRead {
            base,
            filter: format!("(|{users_filter}{groups_filter})"),
            users_dn: users_dn.to_string(),
            users_one_level: repo.users.scope == Scope::One,
            groups_dn: groups_dn.to_string(),
            group_classes: repo.groups.object_classes.iter().map(|c| c.trim().to_ascii_lowercase()).collect(),
        })
    }

    /// What the entry at `dn` with these `objectClass` values is.
    pub fn classify<'v>(&self, dn: &str, object_classes: impl IntoIterator<Item = &'v str>) -> Part {
        let in_users = if self.users_one_level {
            parent(dn).is_some_and(|p| dn::normalize(p) == dn::normalize(&self.users_dn))
        } else {
            dn::is_within(dn, &self.users_dn)
        };
        let in_groups = !in_users && dn::is_within(dn, &self.groups_dn);
        if !in_users && !in_groups {
            return Part::Neither;
        }
        let classes: Vec<&str> = object_classes.into_iter().collect();
        let group_classes = self.group_classes.iter().all(|g| classes.iter().any(|c| c.trim().eq_ignore_ascii_case(g)));
        match (in_users, group_classes) {
            (true, false) => Part::User,
            (false, true) => Part::Group,
            _ => Part::Unsure,
        }
    }
}

/// The RDNs of `dn` as written, leaf first (separators inside escapes or
/// quoted values are not separators).
fn rdns(dn: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let (mut start, mut escaped, mut quoted) = (0, false, false);
    for (i, c) in dn.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' => escaped = true,
            '"' => quoted = !quoted,
            ',' | ';' if !quoted => {
                parts.push(dn[start..i].trim());
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(dn[start..].trim());
    parts
}

fn parent(dn: &str) -> Option<&str> {
    let first = rdns(dn).first().copied()?;
    let at = dn.find(first)? + first.len();
    dn[at..].trim_start().strip_prefix([',', ';']).map(str::trim)
}

/// The closest common ancestor of two DNs, as `a` writes it; None when they
/// share no RDN.
fn common_ancestor(a: &str, b: &str) -> Option<String> {
    let (ra, rb) = (rdns(a), rdns(b));
    let shared = ra.iter().rev().zip(rb.iter().rev()).take_while(|(x, y)| dn::normalize(x) == dn::normalize(y)).count();
    (shared > 0).then(|| ra[ra.len() - shared..].join(","))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repo(users: &str, groups: &str) -> Repository {
        let mut r = app::presets::new_repository(app::model::Vendor::OpenLdap);
        r.users.base_dn = "dc=example,dc=org".into();
        r.users.users_dn = Some(users.into());
        r.groups.groups_dn = Some(groups.into());
        r
    }

    fn joint(users: &str, groups: &str) -> Option<JointRead> {
        JointRead::of(&repo(users, groups), "(objectClass=person)", "(objectClass=groupOfNames)")
    }

    #[test]
    fn reads_from_the_common_ancestor_of_places_that_do_not_nest() {
        let j = joint("ou=People,dc=example,dc=org", "OU=Groups, DC=Example,dc=org").expect("joint");
        assert_eq!(j.base, "dc=example,dc=org");
        assert_eq!(j.filter, "(|(objectClass=person)(objectClass=groupOfNames))");
        let j = joint("ou=Staff,ou=People,dc=example,dc=org", "ou=Teams,ou=People,dc=example,dc=org").expect("joint");
        assert_eq!(j.base, "ou=People,dc=example,dc=org");
        let j = joint("ou=A\\,B,o=x", "ou=G,o=x").expect("escaped comma");
        assert_eq!(j.base, "o=x");
    }

    #[test]
    fn nested_or_unrelated_places_are_read_apart() {
        assert!(joint("dc=example,dc=org", "ou=Groups,dc=example,dc=org").is_none(), "groups inside users");
        assert!(joint("ou=People,dc=example,dc=org", "dc=example,dc=org").is_none(), "users inside groups");
        assert!(joint("ou=People,dc=example,dc=org", "ou=People,dc=example,dc=org").is_none(), "one place");
        assert!(joint("ou=People,o=a", "ou=Groups,o=b").is_none(), "no common ancestor");
        let mut no_groups = repo("ou=People,o=a", "ou=Groups,o=a");
        no_groups.groups.groups_dn = Some(" ".into());
        assert!(JointRead::of(&no_groups, "(a=1)", "(b=1)").is_none());
    }

    #[test]
    fn entries_are_told_apart_by_place_and_group_classes() {
        let j = joint("ou=People,dc=example,dc=org", "ou=Groups,dc=example,dc=org").expect("joint");
        let person = ["inetOrgPerson", "top"];
        let group = ["GROUPOFNAMES", "top"];
        assert_eq!(j.classify("uid=a,ou=Sales,ou=People,dc=example,dc=org", person), Part::User);
        // Whatever classes a user entry lists (a superclass may be left
        // out), only the group classes make it doubtful.
        assert_eq!(j.classify("uid=a,ou=People,dc=example,dc=org", ["account"]), Part::User);
        assert_eq!(j.classify("cn=admins,ou=Groups,dc=example,dc=org", group), Part::Group);
        assert_eq!(j.classify("uid=a,ou=Former,dc=example,dc=org", person), Part::Neither, "moved out");
        assert_eq!(j.classify("cn=x,ou=Archive,dc=example,dc=org", group), Part::Neither);
        assert_eq!(j.classify("cn=team,ou=People,dc=example,dc=org", group), Part::Unsure, "a group among users");
        assert_eq!(j.classify("uid=svc,ou=Groups,dc=example,dc=org", person), Part::Unsure, "a user among groups");
    }

    #[test]
    fn one_level_users_are_the_direct_children_only() {
        let mut r = repo("ou=People,dc=example,dc=org", "ou=Groups,dc=example,dc=org");
        r.users.scope = Scope::One;
        let j = JointRead::of(&r, "(u=1)", "(g=1)").expect("joint");
        assert_eq!(j.classify("uid=a, OU=people,dc=example,dc=org", ["person"]), Part::User);
        assert_eq!(j.classify("uid=a,ou=Sales,ou=People,dc=example,dc=org", ["person"]), Part::Neither);
        assert_eq!(j.classify("ou=People,dc=example,dc=org", ["organizationalUnit"]), Part::Neither);
    }
}
