//! How the reader turns raw entries into items: a fingerprint first (an
//! entry stored unchanged is never decoded), then users mapped and groups
//! keyed; a joint read tells users, groups and neither apart.

use crate::entry::EntryAttributes;
use crate::ldap::entry::{AttributeNames, EntryView, RawEntry};
use crate::mapping;
use crate::store::known::KnownUsers;
use crate::store::rows::{PreparedGroup, PreparedUser, SeenPlaces};
use crate::sync::fingerprint::{self, Recognised};
use crate::sync::handover::Item;
use crate::sync::handover::{MappedUser, Unmapped};
use crate::sync::joint;
use crate::sync::outcome::store_error;
use app::model::Repository;

/// How the reader turns entries into items.
pub(crate) enum Decode {
    Users(Box<UserReader>),
    Groups(Box<GroupReader>),
    Joint(Box<JointReader>),
}

/// What the reader made of one entry.
pub(crate) enum Decoded {
    One(Item),
    /// A joint read's entry: its user part and its group part.
    Two(Item, Item),
    /// A joint read's entry that cannot be told apart (why).
    Unsure(String),
}

impl Decode {
    pub(crate) fn read(&mut self, tag: ldap3::asn1::StructureTag) -> Result<Decoded, String> {
        Ok(match self {
            Decode::Users(users) => Decoded::One(users.read(tag)?),
            Decode::Groups(groups) => Decoded::One(groups.read(tag)),
            Decode::Joint(joint) => joint.read(tag)?,
        })
    }
}

/// Reads the entries of a joint read (see [`joint`]): each is a user, a
/// group or neither, and is decoded as the users' or the groups' read would.
pub(crate) struct JointReader {
    pub(crate) users: UserReader,
    pub(crate) groups: GroupReader,
    pub(crate) split: joint::JointRead,
}

impl JointReader {
    pub(crate) fn read(&mut self, tag: ldap3::asn1::StructureTag) -> Result<Decoded, String> {
        let uuid_attribute = self.users.repo.users.uuid_attribute.as_str();
        let place = RawEntry::of(&tag).and_then(|raw| {
            let dn = std::str::from_utf8(raw.dn).ok()?;
            let classes = raw.text_values("objectClass").ok()?.unwrap_or_default();
            let uuid = raw.first_value(uuid_attribute)?.map(|v| crate::entry::uuid_from_value(uuid_attribute, v));
            let part = self.split.classify(dn, classes);
            // The DN is copied only for the messages of the rare cases.
            let named = part == joint::Part::Unsure || (part == joint::Part::Neither && uuid.is_none());
            let dn = named.then(|| dn.to_string());
            Some((part, uuid, dn.unwrap_or_default()))
        });
        let Some((part, uuid, dn)) = place else {
            return Ok(Decoded::One(Item::Malformed(crate::ldap::entry::malformed())));
        };
        Ok(match (part, uuid) {
            (joint::Part::Unsure, _) => Decoded::Unsure(format!("{dn} could be a user or a group")),
            (joint::Part::User, Some(uuid)) => Decoded::Two(self.users.read(tag)?, Item::NotGroup(uuid)),
            (joint::Part::Group, Some(uuid)) => Decoded::Two(self.groups.read(tag), Item::NotUser(uuid)),
            (joint::Part::Neither, Some(uuid)) => Decoded::Two(Item::NotUser(uuid.clone()), Item::NotGroup(uuid)),
            // Without a UUID: a user entry is reported as one (not
            // identified: removal of unseen users is skipped), others are
            // nothing a store could hold.
            (joint::Part::User, None) => Decoded::One(self.users.read(tag)?),
            (joint::Part::Group, None) => Decoded::One(self.groups.read(tag)),
            (joint::Part::Neither, None) => {
                Decoded::One(Item::Malformed(format!("{dn} has no {}", self.users.repo.users.uuid_attribute)))
            }
        })
    }
}

/// Recognises group entries stored unchanged by their fingerprint; decodes
/// the others (a group of 200,000 members unchanged is never decoded).
pub(crate) struct GroupReader {
    pub(crate) repo: Repository,
    pub(crate) mapping_key: u128,
    /// The group attributes, when the read asks for more (a joint read):
    /// only they are fingerprinted and decoded.
    pub(crate) keep: Option<AttributeNames>,
    /// Source hashes of the stored groups by UUID.
    pub(crate) known: std::collections::HashMap<String, Vec<u8>>,
}

impl GroupReader {
    pub(crate) fn read(&self, tag: ldap3::asn1::StructureTag) -> Item {
        let stored = (!self.known.is_empty()).then_some(|uuid: &str, hash: &fingerprint::SourceHash| {
            Ok::<_, std::convert::Infallible>(self.known.get(uuid).map(Vec::as_slice) == Some(hash.as_slice()))
        });
        // The member values are read in place; the rest is decoded.
        let member_attribute = self.repo.groups.member_attribute.as_str();
        let keep = self.keep.as_ref();
        let decode = |raw: &RawEntry<'_>| {
            let members = raw.text_values(member_attribute)?;
            let entry = EntryView::of(raw, |name| {
                name.eq_ignore_ascii_case(member_attribute.as_bytes()) || keep.is_some_and(|k| !k.contains(name))
            })?;
            // Members that are not text are no members (as in an Entry).
            let members = members.unwrap_or_default();
            Ok(mapping::map_group_with_members(&self.repo, &entry, members.into_iter())
                .map(|g| PreparedGroup::of(g.uuid, g.name, g.dn, g.member_keys)))
        };
        match fingerprint::recognise(&tag, (&self.repo.users.uuid_attribute, keep), self.mapping_key, stored, decode) {
            Ok(Recognised::Unchanged(uuid)) => Item::Unchanged(uuid),
            Ok(Recognised::Decoded(group, source_hash)) => {
                Item::Group(group.map(|g| PreparedGroup { source_hash, ..g }))
            }
            Ok(Recognised::Malformed(reason)) => Item::Malformed(reason),
            Err(never) => match never {},
        }
    }
}

/// Turns user entries into items on the reader task: entries stored
/// unchanged are recognised by their fingerprint, the others are mapped.
pub(crate) struct UserReader {
    pub(crate) repo: Repository,
    pub(crate) mapping_key: u128,
    /// The user attributes, when the read asks for more (a joint read):
    /// only they are fingerprinted and mapped.
    pub(crate) keep: Option<AttributeNames>,
    /// None when the repository had no users when the run began.
    pub(crate) known: Option<KnownUsers>,
}

impl UserReader {
    pub(crate) fn read(&mut self, tag: ldap3::asn1::StructureTag) -> Result<Item, String> {
        // Where the matching stored user is in read order.
        let mut place = None;
        let stored = self.known.as_mut().map(|known| {
            |uuid: &str, hash: &fingerprint::SourceHash| {
                let Some((seq, stored)) = known.lookup(uuid).map_err(store_error)? else { return Ok(false) };
                place = seq.filter(|&seq| SeenPlaces::fits(seq));
                Ok::<_, String>(stored.as_deref() == Some(hash.as_slice()))
            }
        });
        let (repo, keep) = (&self.repo, self.keep.as_ref());
        // Mapped from the message in place: no value is copied but those the user keeps.
        let skip = |name: &[u8]| keep.is_some_and(|k| !k.contains(name));
        let decode = |raw: &RawEntry<'_>| Ok(map_entry(repo, &EntryView::of(raw, skip)?));
        Ok(match fingerprint::recognise(&tag, (&repo.users.uuid_attribute, keep), self.mapping_key, stored, decode)? {
            Recognised::Unchanged(uuid) => match place {
                Some(seq) => Item::UnchangedAt(seq),
                None => Item::Unchanged(uuid),
            },
            Recognised::Decoded(mut user, source_hash) => {
                if let Ok(prepared) = &mut user.result {
                    prepared.source_hash = source_hash;
                }
                Item::User(Box::new(user))
            }
            Recognised::Malformed(reason) => Item::Malformed(reason),
        })
    }
}

/// Maps a user entry and prepares it for writing.
pub(crate) fn map_entry(repo: &Repository, entry: &impl EntryAttributes) -> MappedUser {
    let non_utf8 = mapping::non_utf8_attributes(repo, entry);
    let result = match mapping::map_user(repo, entry, None) {
        Ok(user) => Ok(PreparedUser::of(user)),
        Err(e) => {
            Err(Unmapped { uuid: crate::entry::uuid_of(entry, &repo.users.uuid_attribute), dn: e.dn, reason: e.reason })
        }
    };
    MappedUser { result, non_utf8 }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ldap::entry::tests::{raw_entry, raw_form};
    use ldap3::asn1::PL;

    fn reader() -> GroupReader {
        let repo = app::presets::new_repository(app::model::Vendor::OpenLdap);
        GroupReader { mapping_key: fingerprint::mapping_key(&repo), repo, keep: None, known: Default::default() }
    }

    const UUID: &[u8] = b"5c7b2a3e-1111-4e3b-9c1d-0242ac120002";

    /// A group read in place from the raw message maps exactly as one
    /// decoded whole into an Entry.
    #[test]
    fn a_raw_group_maps_as_its_decoded_entry_does() {
        let reader = reader();
        let members: [&[u8]; 4] = [b"uid=B,ou=People,dc=x", b"uid=a,ou=People,dc=x", b"", b"UID=a, ou=People,dc=x"];
        let tree = raw_entry(
            "cn=Ops,ou=Groups,dc=x",
            &[("cn", &[b"Ops"]), ("member", &members[..2]), ("entryUUID", &[UUID]), ("Member", &members[2..])],
        );
        let Item::Group(Ok(group)) = reader.read(raw_form(&tree)) else { panic!("a group") };
        let want = mapping::map_group(&reader.repo, &crate::ldap::entry::into_entry(tree.clone()).expect("entry"))
            .map(|g| PreparedGroup::of(g.uuid, g.name, g.dn, g.member_keys))
            .expect("maps");
        // The Entry path keeps one attribute per name as sent ("member"): the
        // raw path also takes "Member", as the directory means.
        assert_eq!(group.members.iter().collect::<Vec<_>>(), ["uid=a,ou=people,dc=x", "uid=b,ou=people,dc=x"]);
        assert_eq!(
            (group.uuid.as_str(), group.name.as_str(), group.dn_key.as_str()),
            (want.uuid.as_str(), "Ops", want.dn_key.as_str())
        );
        assert_eq!(group.members, want.members);
        assert!(group.source_hash.is_some());
    }

    /// A user mapped from the message in place maps exactly as one decoded
    /// whole into an Entry: text, binary and not-UTF-8 values, empty ones,
    /// and an entry that cannot be a user.
    #[test]
    fn a_raw_user_maps_as_its_decoded_entry_does() {
        let mut repo = app::presets::new_repository(app::model::Vendor::OpenLdap);
        for (attribute, ldap) in [("attributes.photo", "jpegPhoto"), ("attributes.department", "departmentNumber")] {
            repo.users.attribute_mappings.push(app::model::AttributeMapping::new(attribute, ldap));
        }
        let anna: &[(&str, &[&[u8]])] = &[
            ("uid", &[b"anna"]),
            ("entryUUID", &[UUID]),
            ("mail", &[b"a@x", b"b@x"]),
            ("jpegPhoto", &[b"ok", &[0xff, 0xd8]]),
            ("departmentNumber", &[b"", b"R&D"]),
            ("givenName", &[&[0xff]]),
            ("sn", &[b"Smith"]),
        ];
        let nameless: &[(&str, &[&[u8]])] = &[("entryUUID", &[UUID]), ("cn", &[b"x"])];
        for attrs in [anna, nameless] {
            let tree = raw_entry("uid=anna,ou=People,dc=x", attrs);
            let raw = raw_form(&tree);
            let view = EntryView::of(&RawEntry::of(&raw).expect("entry"), |_| false).expect("view");
            let (a, b) =
                (map_entry(&repo, &view), map_entry(&repo, &crate::ldap::entry::into_entry(tree).expect("entry")));
            assert_eq!(a.non_utf8, b.non_utf8);
            match (a.result, b.result) {
                (Ok(a), Ok(b)) => {
                    assert!(a.body.contains("R&D") && a.body.contains("b@x") == b.body.contains("b@x"), "{}", a.body);
                    assert_eq!(
                        (a.ldap_uuid, a.username, a.ldap_dn, a.enabled, a.body, a.hash),
                        (b.ldap_uuid, b.username, b.ldap_dn, b.enabled, b.body, b.hash)
                    );
                }
                (Err(a), Err(b)) => assert_eq!((a.dn, a.uuid, a.reason), (b.dn, b.uuid, b.reason)),
                _ => panic!("one maps and the other does not"),
            }
        }
    }

    /// Members that are not text are no members (as in an Entry); a member
    /// value that is not even a value makes the entry malformed, never a
    /// group without members.
    #[test]
    fn raw_group_members_that_are_not_text_or_not_values() {
        let reader = reader();
        let binary =
            raw_entry("cn=Bin,dc=x", &[("cn", &[b"Bin"]), ("entryUUID", &[UUID]), ("member", &[b"uid=a", &[0xff]])]);
        let Item::Group(Ok(group)) = reader.read(raw_form(&binary)) else { panic!("a group") };
        assert!(group.members.is_empty());
        let mut broken =
            raw_entry("cn=Bad,dc=x", &[("cn", &[b"Bad"]), ("entryUUID", &[UUID]), ("member", &[b"uid=a"])]);
        if let PL::C(parts) = &mut broken.payload {
            if let PL::C(attributes) = &mut parts[1].payload {
                if let PL::C(pair) = &mut attributes[2].payload {
                    if let PL::C(values) = &mut pair[1].payload {
                        values[0].payload = PL::C(vec![]);
                    }
                }
            }
        }
        assert!(matches!(reader.read(raw_form(&broken)), Item::Malformed(_)));
    }
}
