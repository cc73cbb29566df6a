//! Search result entries read in place from ldap3's BER structures.
//!
//! ldap3's `SearchEntry::construct` panics on a malformed entry and copies
//! every value; a sync reads millions of entries from servers it does not
//! control, so it walks the structure itself: malformed input is an error,
//! values are borrowed (to fingerprint an entry) or moved (to map it).

use crate::mapping::Attributes;
use crate::mapping::Entry;
use ldap3::asn1::{StructureTag, TagClass, PL};

/// SearchResultEntry is [APPLICATION 4] in RFC 4511.
const SEARCH_RESULT_ENTRY: u64 = 4;

fn primitive(tag: &StructureTag) -> Option<&[u8]> {
    match &tag.payload {
        PL::P(bytes) => Some(bytes),
        PL::C(_) => None,
    }
}

fn constructed(tag: &StructureTag) -> Option<&[StructureTag]> {
    match &tag.payload {
        PL::C(parts) => Some(parts),
        PL::P(_) => None,
    }
}

/// A search result entry's DN and attributes, borrowed from the message.
pub struct RawEntry<'a> {
    pub dn: &'a [u8],
    attrs: &'a [StructureTag],
}

/// One attribute of a [`RawEntry`]: its type as sent and its values.
pub struct RawAttribute<'a> {
    pub name: &'a [u8],
    values: &'a [StructureTag],
}

impl<'a> RawEntry<'a> {
    /// None when the tag is not a well-formed SearchResultEntry.
    pub fn of(tag: &'a StructureTag) -> Option<RawEntry<'a>> {
        if tag.class != TagClass::Application || tag.id != SEARCH_RESULT_ENTRY {
            return None;
        }
        match constructed(tag)? {
            [dn, attrs] => Some(RawEntry { dn: primitive(dn)?, attrs: constructed(attrs)? }),
            _ => None,
        }
    }

    /// The attributes in the order the server sent them; an item is None
    /// when that attribute is malformed.
    pub fn attributes(&self) -> impl Iterator<Item = Option<RawAttribute<'a>>> + 'a {
        self.attrs.iter().map(|a| match constructed(a)? {
            [name, values] => Some(RawAttribute { name: primitive(name)?, values: constructed(values)? }),
            _ => None,
        })
    }
}

impl<'a> RawAttribute<'a> {
    /// The values; an item is None when that value is malformed.
    pub fn values(&self) -> impl Iterator<Item = Option<&'a [u8]>> + 'a {
        self.values.iter().map(primitive)
    }

    pub fn value_count(&self) -> usize {
        self.values.len()
    }
}

pub(crate) fn malformed() -> String {
    "the server sent a malformed entry".to_string()
}

fn into_constructed(tag: StructureTag) -> Result<Vec<StructureTag>, String> {
    match tag.payload {
        PL::C(parts) => Ok(parts),
        PL::P(_) => Err(malformed()),
    }
}

fn into_primitive(tag: StructureTag) -> Result<Vec<u8>, String> {
    match tag.payload {
        PL::P(bytes) => Ok(bytes),
        PL::C(_) => Err(malformed()),
    }
}

/// Text values of an attribute, or all its values as bytes when one of them
/// is not UTF-8 (the attribute then counts as binary, as in ldap3).
fn text_or_binary(values: Vec<Vec<u8>>) -> Result<Vec<String>, Vec<Vec<u8>>> {
    let mut text = Vec::with_capacity(values.len());
    let mut rest = values.into_iter();
    while let Some(value) = rest.next() {
        match String::from_utf8(value) {
            Ok(t) => text.push(t),
            Err(e) => {
                let mut bytes: Vec<Vec<u8>> = text.into_iter().map(String::into_bytes).collect();
                bytes.push(e.into_bytes());
                bytes.extend(rest);
                return Err(bytes);
            }
        }
    }
    Ok(text)
}

/// Decodes a SearchResultEntry into an [`Entry`], moving its values.
pub fn into_entry(tag: StructureTag) -> Result<Entry, String> {
    if tag.class != TagClass::Application || tag.id != SEARCH_RESULT_ENTRY {
        return Err(malformed());
    }
    let mut parts = into_constructed(tag)?.into_iter();
    let (Some(dn), Some(attributes), None) = (parts.next(), parts.next(), parts.next()) else {
        return Err(malformed());
    };
    let dn =
        String::from_utf8(into_primitive(dn)?).map_err(|_| "the server sent a DN that is not UTF-8".to_string())?;
    let mut attrs: Attributes<Vec<String>> = Attributes::default();
    let mut bin_attrs: Attributes<Vec<Vec<u8>>> = Attributes::default();
    for attribute in into_constructed(attributes)? {
        let mut pair = into_constructed(attribute)?.into_iter();
        let (Some(name), Some(values), None) = (pair.next(), pair.next(), pair.next()) else {
            return Err(malformed());
        };
        let name = String::from_utf8(into_primitive(name)?).map_err(|_| malformed())?;
        let values =
            into_constructed(values)?.into_iter().map(into_primitive).collect::<Result<Vec<Vec<u8>>, String>>()?;
        match text_or_binary(values) {
            Ok(text) => attrs.entry(name).or_default().extend(text),
            Err(bytes) => bin_attrs.entry(name).or_default().extend(bytes),
        }
    }
    Ok(Entry::new(dn, attrs, bin_attrs))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    fn octets(bytes: &[u8]) -> StructureTag {
        StructureTag { class: TagClass::Universal, id: 4, payload: PL::P(bytes.to_vec()) }
    }

    fn sequence(parts: Vec<StructureTag>) -> StructureTag {
        StructureTag { class: TagClass::Universal, id: 16, payload: PL::C(parts) }
    }

    /// A SearchResultEntry as ldap3 hands it over.
    pub(crate) fn raw_entry(dn: &str, attrs: &[(&str, &[&[u8]])]) -> StructureTag {
        let attrs = attrs
            .iter()
            .map(|(name, values)| {
                let values = StructureTag {
                    class: TagClass::Universal,
                    id: 17,
                    payload: PL::C(values.iter().map(|v| octets(v)).collect()),
                };
                sequence(vec![octets(name.as_bytes()), values])
            })
            .collect();
        StructureTag {
            class: TagClass::Application,
            id: SEARCH_RESULT_ENTRY,
            payload: PL::C(vec![octets(dn.as_bytes()), sequence(attrs)]),
        }
    }

    #[test]
    fn decodes_text_and_binary_attributes() {
        let tag = raw_entry(
            "uid=a,dc=x",
            &[("uid", &[b"a"]), ("mail", &[b"a@x", b"b@x"]), ("jpegPhoto", &[b"ok", &[0xff, 0xd8]])],
        );
        let raw = RawEntry::of(&tag).expect("entry");
        assert_eq!(raw.dn, b"uid=a,dc=x");
        let names: Vec<&[u8]> = raw.attributes().map(|a| a.expect("attribute").name).collect();
        assert_eq!(names, vec![&b"uid"[..], b"mail", b"jpegPhoto"]);
        let entry = into_entry(tag).expect("entry");
        assert_eq!(entry.dn, "uid=a,dc=x");
        assert_eq!(entry.values("MAIL"), ["a@x", "b@x"]);
        // One value that is not text makes the whole attribute binary, in order.
        assert_eq!(entry.binary("jpegphoto"), Some(&vec![b"ok".to_vec(), vec![0xff, 0xd8]]));
        assert!(entry.values("jpegPhoto").is_empty());
    }

    #[test]
    fn malformed_entries_are_errors_not_panics() {
        let not_an_entry = octets(b"x");
        assert!(RawEntry::of(&not_an_entry).is_none());
        assert!(into_entry(not_an_entry).is_err());
        let mut truncated = raw_entry("uid=a", &[("uid", &[b"a"])]);
        if let PL::C(parts) = &mut truncated.payload {
            parts.pop();
        }
        assert!(into_entry(truncated).is_err());
        let mut bad_value = raw_entry("uid=a", &[("uid", &[b"a"])]);
        if let PL::C(parts) = &mut bad_value.payload {
            parts[1] = sequence(vec![sequence(vec![octets(b"uid"), octets(b"not a set")])]);
        }
        assert!(RawEntry::of(&bad_value).expect("entry").attributes().any(|a| a.is_none()));
        assert!(into_entry(bad_value).is_err());
        let bad_dn = raw_entry("x", &[]);
        let bad_dn = StructureTag {
            payload: match bad_dn.payload {
                PL::C(mut p) => {
                    p[0] = octets(&[0xff]);
                    PL::C(p)
                }
                other => other,
            },
            ..bad_dn
        };
        assert!(into_entry(bad_dn).expect_err("dn").contains("DN"));
    }
}
