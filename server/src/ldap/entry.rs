//! Search result entries read in place from ldap3's BER structures.
//!
//! ldap3's `SearchEntry::construct` panics on a malformed entry and copies
//! every value; a sync reads millions of entries from servers it does not
//! control, so it walks the structure itself: malformed input is an error,
//! and values are borrowed from the message to fingerprint and map an entry
//! ([`EntryView`]); only an [`Entry`] kept beyond the message copies them.

use crate::entry::{Attributes, Entry, EntryAttributes};
use ldap3::asn1::{StructureTag, TagClass, PL};
use std::borrow::Cow;
use std::ops::Range;

/// SearchResultEntry is [APPLICATION 4] in RFC 4511.
const SEARCH_RESULT_ENTRY: u64 = 4;

/// A part of an entry: a node of ldap3's tree, or a BER element of an entry
/// ldap3 handed over raw (see third_party/ldap3/PATCHED.md).
#[derive(Clone, Copy)]
enum Node<'a> {
    Tree(&'a StructureTag),
    Ber { constructed: bool, content: &'a [u8] },
}

impl<'a> Node<'a> {
    fn primitive(self) -> Option<&'a [u8]> {
        match self {
            Node::Tree(StructureTag { payload: PL::P(bytes), .. }) => Some(bytes),
            Node::Ber { constructed: false, content } => Some(content),
            _ => None,
        }
    }

    fn children(self) -> Option<Children<'a>> {
        match self {
            Node::Tree(StructureTag { payload: PL::C(parts), .. }) => Some(Children::Tree(parts.iter())),
            Node::Ber { constructed: true, content } => Some(Children::Ber(content)),
            _ => None,
        }
    }
}

/// The parts of a constructed [`Node`]; an item is None when that part (and
/// so the rest) is malformed.
#[derive(Clone)]
enum Children<'a> {
    Tree(std::slice::Iter<'a, StructureTag>),
    Ber(&'a [u8]),
}

impl<'a> Iterator for Children<'a> {
    type Item = Option<Node<'a>>;

    fn next(&mut self) -> Option<Option<Node<'a>>> {
        match self {
            Children::Tree(parts) => parts.next().map(|t| Some(Node::Tree(t))),
            Children::Ber([]) => None,
            Children::Ber(bytes) => Some(match ldap3::asn1::split_element(bytes) {
                Some((identifier, content, rest)) => {
                    *bytes = rest;
                    Some(Node::Ber { constructed: identifier & 0x20 != 0, content })
                }
                None => {
                    *bytes = &[];
                    None
                }
            }),
        }
    }
}

/// The parts of `node`, when it has exactly `N` well-formed ones.
fn exactly<const N: usize>(node: Node<'_>) -> Option<[Node<'_>; N]> {
    let mut children = node.children()?;
    let mut parts = [node; N];
    for part in &mut parts {
        *part = children.next()??;
    }
    children.next().is_none().then_some(parts)
}

/// A search result entry's DN and attributes, borrowed from the message.
pub struct RawEntry<'a> {
    pub dn: &'a [u8],
    attrs: Children<'a>,
}

/// One attribute of a [`RawEntry`]: its type as sent and its values.
pub struct RawAttribute<'a> {
    pub name: &'a [u8],
    values: Children<'a>,
}

impl<'a> RawEntry<'a> {
    /// None when the tag is not a well-formed SearchResultEntry, in the
    /// tree form or raw.
    pub fn of(tag: &'a StructureTag) -> Option<RawEntry<'a>> {
        if tag.class != TagClass::Application || tag.id != SEARCH_RESULT_ENTRY {
            return None;
        }
        let whole = match &tag.payload {
            PL::C(_) => Node::Tree(tag),
            PL::P(content) => Node::Ber { constructed: true, content },
        };
        let [dn, attrs] = exactly(whole)?;
        Some(RawEntry { dn: dn.primitive()?, attrs: attrs.children()? })
    }

    /// Feeds `out` what a fingerprint of the entry covers: the DN (after its
    /// length), then each attribute `keep` accepts as sent, its BER element
    /// whole. With no `keep` that is the attribute list's content octets, one
    /// slice: a complete read fingerprints an entry without walking it. A read
    /// that asks for more attributes than the fingerprint covers (users and
    /// groups in one search) gets the same bytes for the same attributes.
    /// None when the entry is malformed.
    pub fn fingerprint_parts(&self, keep: Option<&AttributeNames>, out: &mut impl FnMut(&[u8])) -> Option<()> {
        out(&(self.dn.len() as u64).to_le_bytes());
        out(self.dn);
        match (&self.attrs, keep) {
            (Children::Ber(all), None) => out(all),
            (Children::Ber(all), Some(keep)) => {
                let mut rest: &[u8] = all;
                while !rest.is_empty() {
                    let (_, attribute, after) = ldap3::asn1::split_element(rest)?;
                    let (_, name, _) = ldap3::asn1::split_element(attribute)?;
                    if keep.contains(name) {
                        out(&rest[..rest.len() - after.len()]);
                    }
                    rest = after;
                }
            }
            (Children::Tree(parts), keep) => {
                for part in parts.clone() {
                    let name = Node::Tree(part).children()?.next()??.primitive()?;
                    if keep.is_none_or(|keep| keep.contains(name)) {
                        let mut element = Vec::new();
                        encode(part, &mut element);
                        out(&element);
                    }
                }
            }
        }
        Some(())
    }

    /// The first non-empty first value of an attribute named `name` (any
    /// case); Some(None) when there is none, None when the entry is
    /// malformed before it is found. Of the other attributes only the type is
    /// read (their values are checked by whoever decodes the entry).
    pub fn first_value(&self, name: &str) -> Option<Option<&'a [u8]>> {
        for node in self.attrs.clone() {
            let node = node?;
            // Only the type of each attribute is read on the way; the one
            // asked for is checked whole.
            let type_ = node.children()?.next()??.primitive()?;
            if !type_.eq_ignore_ascii_case(name.as_bytes()) {
                continue;
            }
            let [_, values] = exactly(node)?;
            if let Some(value) = values.children()?.next() {
                match value?.primitive()? {
                    [] => {}
                    value => return Some(Some(value)),
                }
            }
        }
        Some(None)
    }

    /// The attributes in the order the server sent them; an item is None
    /// when that attribute is malformed.
    pub fn attributes(&self) -> impl Iterator<Item = Option<RawAttribute<'a>>> + 'a {
        self.attrs.clone().map(|a| {
            let [name, values] = exactly(a?)?;
            Some(RawAttribute { name: name.primitive()?, values: values.children()? })
        })
    }

    /// The text values of every attribute named `name` (any case), in the
    /// order sent; None when one of them is not UTF-8 (the attribute is then
    /// binary, as in an [`Entry`]), Err when the entry is malformed.
    pub fn text_values(&self, name: &str) -> Result<Option<Vec<&'a str>>, String> {
        let mut text = Vec::new();
        let mut binary = false;
        for attribute in self.attributes() {
            let attribute = attribute.ok_or_else(malformed)?;
            if !attribute.name.eq_ignore_ascii_case(name.as_bytes()) {
                continue;
            }
            for value in attribute.values() {
                let value = value.ok_or_else(malformed)?;
                match std::str::from_utf8(value) {
                    Ok(value) => text.push(value),
                    Err(_) => binary = true,
                }
            }
        }
        Ok((!binary).then_some(text))
    }
}

impl<'a> RawAttribute<'a> {
    /// The values; an item is None when that value is malformed.
    pub fn values(&self) -> impl Iterator<Item = Option<&'a [u8]>> + 'a {
        self.values.clone().map(|v| v?.primitive())
    }

    pub fn value_count(&self) -> usize {
        self.values.clone().count()
    }
}

/// `tag` BER-encoded with definite, minimal lengths.
fn encode(tag: &StructureTag, out: &mut Vec<u8>) {
    let (constructed, content) = match &tag.payload {
        PL::P(bytes) => (0, Cow::Borrowed(&bytes[..])),
        PL::C(parts) => {
            let mut content = Vec::new();
            parts.iter().for_each(|part| encode(part, &mut content));
            (0x20, Cow::Owned(content))
        }
    };
    let class = (tag.class as u8) << 6;
    if tag.id < 31 {
        out.push(class | constructed | tag.id as u8);
    } else {
        // High tag number form: base-128 digits, all but the last with bit 8.
        out.push(class | constructed | 0x1f);
        let digits = (0..10).rev().map(|i| ((tag.id >> (7 * i)) & 0x7f) as u8);
        let digits: Vec<u8> = digits.skip_while(|&d| d == 0).collect();
        let last = digits.len() - 1;
        out.extend(digits.iter().enumerate().map(|(i, &d)| if i < last { d | 0x80 } else { d }));
    }
    if content.len() < 0x80 {
        out.push(content.len() as u8);
    } else {
        let length = content.len().to_be_bytes();
        let digits = &length[length.iter().take_while(|&&d| d == 0).count()..];
        out.push(0x80 | digits.len() as u8);
        out.extend_from_slice(digits);
    }
    out.extend_from_slice(&content);
}

pub(crate) fn malformed() -> String {
    "the server sent a malformed entry".to_string()
}

/// Attribute types a read keeps of the entries it gets (any case; an
/// attribute sent with options, `cn;lang-en`, counts as its type).
#[derive(Clone, Debug, Default)]
pub struct AttributeNames(Vec<Vec<u8>>);

impl AttributeNames {
    pub fn new<S: AsRef<str>>(names: impl IntoIterator<Item = S>) -> AttributeNames {
        AttributeNames(names.into_iter().map(|n| type_of(n.as_ref().trim().as_bytes()).to_ascii_lowercase()).collect())
    }

    pub fn contains(&self, name: &[u8]) -> bool {
        self.0.iter().any(|n| n.eq_ignore_ascii_case(type_of(name)))
    }
}

/// An attribute description's type, without its options.
fn type_of(description: &[u8]) -> &[u8] {
    description.split(|&b| b == b';').next().unwrap_or_default()
}

/// An entry decoded in place: its DN and values borrowed from the message
/// (text checked once), for mapping without copying every value first.
pub struct EntryView<'a> {
    pub dn: &'a str,
    /// Each attribute as sent: its name, whether its values are text, and
    /// where they are (in `text` or `binary`).
    attrs: Vec<(&'a str, bool, Range<usize>)>,
    text: Vec<&'a str>,
    binary: Vec<&'a [u8]>,
}

impl<'a> EntryView<'a> {
    /// Decodes `raw` without the attributes `skip` names (those its caller
    /// reads in place). One value that is not UTF-8 makes its attribute
    /// binary, as in ldap3.
    pub fn of(raw: &RawEntry<'a>, skip: impl Fn(&[u8]) -> bool) -> Result<EntryView<'a>, String> {
        let dn = std::str::from_utf8(raw.dn).map_err(|_| "the server sent a DN that is not UTF-8".to_string())?;
        let mut view = EntryView { dn, attrs: Vec::new(), text: Vec::new(), binary: Vec::new() };
        for attribute in raw.attributes() {
            let attribute = attribute.ok_or_else(malformed)?;
            if skip(attribute.name) {
                continue;
            }
            let name = std::str::from_utf8(attribute.name).map_err(|_| malformed())?;
            let (text_from, binary_from) = (view.text.len(), view.binary.len());
            let mut is_text = true;
            for value in attribute.values() {
                let value = value.ok_or_else(malformed)?;
                match std::str::from_utf8(value) {
                    Ok(text) if is_text => view.text.push(text),
                    _ => {
                        if is_text {
                            // The values taken for text so far are binary too.
                            is_text = false;
                            view.binary.extend(view.text.drain(text_from..).map(str::as_bytes));
                        }
                        view.binary.push(value);
                    }
                }
            }
            let at = if is_text { text_from..view.text.len() } else { binary_from..view.binary.len() };
            view.attrs.push((name, is_text, at));
        }
        Ok(view)
    }

    /// The owned [`Entry`] (values of attributes sent twice under the same
    /// name merged).
    pub fn to_entry(&self) -> Entry {
        let mut attrs: Attributes<Vec<String>> = Attributes::default();
        let mut bin_attrs: Attributes<Vec<Vec<u8>>> = Attributes::default();
        for (name, is_text, at) in &self.attrs {
            if *is_text {
                attrs.entry(name.to_string()).or_default().extend(self.text[at.clone()].iter().map(|v| v.to_string()));
            } else {
                bin_attrs
                    .entry(name.to_string())
                    .or_default()
                    .extend(self.binary[at.clone()].iter().map(|v| v.to_vec()));
            }
        }
        Entry::new(self.dn.to_string(), attrs, bin_attrs)
    }

    /// The attributes named `name` (any case) whose values are text, or not.
    fn named<'s>(&'s self, name: &'s str, text: bool) -> impl Iterator<Item = Range<usize>> + 's {
        self.attrs
            .iter()
            .filter(move |(n, t, _)| *t == text && n.eq_ignore_ascii_case(name))
            .map(|(_, _, at)| at.clone())
    }
}

impl EntryAttributes for EntryView<'_> {
    fn dn(&self) -> &str {
        self.dn
    }

    fn text<'s>(&'s self, name: &'s str) -> impl Iterator<Item = &'s str> + 's {
        self.named(name, true).flat_map(|at| self.text[at].iter().copied())
    }

    fn binary<'s>(&'s self, name: &'s str) -> impl Iterator<Item = &'s [u8]> + 's {
        self.named(name, false).flat_map(|at| self.binary[at].iter().copied())
    }

    fn any_binary(&self) -> bool {
        !self.binary.is_empty()
    }
}

/// Decodes a SearchResultEntry into an [`Entry`] (each value copied once
/// from the message).
pub fn into_entry(tag: StructureTag) -> Result<Entry, String> {
    Ok(EntryView::of(&RawEntry::of(&tag).ok_or_else(malformed)?, |_| false)?.to_entry())
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

    /// A BER element (definite length, short or long form).
    fn element(identifier: u8, content: &[u8]) -> Vec<u8> {
        let mut out = vec![identifier];
        if content.len() < 0x80 {
            out.push(content.len() as u8);
        } else {
            let digits: Vec<u8> = content.len().to_be_bytes().into_iter().skip_while(|&d| d == 0).collect();
            out.push(0x80 | digits.len() as u8);
            out.extend(digits);
        }
        out.extend_from_slice(content);
        out
    }

    /// The content octets of `tag`, BER-encoded.
    fn content(tag: &StructureTag) -> Vec<u8> {
        match &tag.payload {
            PL::P(bytes) => bytes.clone(),
            PL::C(parts) => parts.iter().flat_map(encode).collect(),
        }
    }

    /// `tag` BER-encoded.
    fn encode(tag: &StructureTag) -> Vec<u8> {
        let constructed = if matches!(tag.payload, PL::C(_)) { 0x20 } else { 0 };
        element(((tag.class as u8) << 6) | constructed | tag.id as u8, &content(tag))
    }

    /// The form ldap3 hands an entry over in: its content octets, raw.
    pub(crate) fn raw_form(tag: &StructureTag) -> StructureTag {
        StructureTag { class: TagClass::Application, id: SEARCH_RESULT_ENTRY, payload: PL::P(content(tag)) }
    }

    /// An LDAPMessage around an encoded protocolOp (and controls).
    fn message(id: u8, op: &[u8], controls: Option<&[u8]>) -> Vec<u8> {
        let mut content = element(0x02, &[id]);
        content.extend_from_slice(op);
        content.extend(controls.unwrap_or_default());
        element(0x30, &content)
    }

    #[test]
    fn attribute_names_match_by_type_in_any_case_with_or_without_options() {
        let names = AttributeNames::new(["cn", " Member;range=0-* ", "entryUUID"]);
        for name in ["CN", "cn;lang-en", "member", "member;range=0-1499", "entryuuid"] {
            assert!(names.contains(name.as_bytes()), "{name}");
        }
        for name in ["c", "memberOf", "", "uid"] {
            assert!(!names.contains(name.as_bytes()), "{name}");
        }
    }

    /// ldap3 splits an entry's message without decoding the entry, for
    /// short and long lengths, with and without controls; anything else
    /// (another operation, a message cut short) is left to its decoder.
    #[test]
    fn entry_messages_are_split_without_decoding_the_entry() {
        let big = vec![b'x'; 70_000];
        for value in [&b"a"[..], &big[..200], &big] {
            let op = encode(&raw_entry("uid=a,dc=x", &[("description", &[value])]));
            let controls = encode(&StructureTag {
                class: TagClass::Context,
                id: 0,
                payload: PL::C(vec![sequence(vec![octets(b"1.2.3")])]),
            });
            for with in [None, Some(&controls[..])] {
                let mut bytes = message(7, &op, with);
                let whole = bytes.len();
                bytes.extend_from_slice(b"next message");
                let split = ldap3::asn1::split_entry_message(&bytes).expect("split");
                assert_eq!((split.consumed, split.msgid, split.controls), (whole, 7, with));
                // The content octets: the op without its identifier and length.
                assert!(op.ends_with(split.entry) && op.len() - split.entry.len() <= 6);
                let tag = StructureTag { class: TagClass::Application, id: 4, payload: PL::P(split.entry.to_vec()) };
                assert_eq!(into_entry(tag).expect("entry").values("description"), [String::from_utf8_lossy(value)]);
                for cut in [1, whole / 2, whole - 1] {
                    assert!(ldap3::asn1::split_entry_message(&bytes[..cut]).is_none(), "cut at {cut}");
                }
            }
        }
        let done = encode(&StructureTag { class: TagClass::Application, id: 5, payload: PL::C(vec![]) });
        assert!(ldap3::asn1::split_entry_message(&message(2, &done, None)).is_none());
    }

    /// Both forms of an entry read the same, down to the fingerprint.
    #[test]
    fn raw_entries_read_as_the_tree_form_does() {
        let long = vec![b'x'; 300];
        let tree = raw_entry(
            "uid=a,dc=x",
            &[
                ("uid", &[b"a"]),
                ("mail", &[b"a@x", b"b@x"]),
                ("jpegPhoto", &[b"ok", &[0xff, 0xd8]]),
                ("empty", &[]),
                ("description", &[&long]),
            ],
        );
        let raw = raw_form(&tree);
        assert!(matches!(raw.payload, PL::P(_)));
        let fingerprint = |tag: &StructureTag| {
            crate::sync::fingerprint::tests::of_entry(&RawEntry::of(tag).expect("entry"), "uid", 7)
                .expect("fingerprint")
        };
        assert_eq!(fingerprint(&raw), fingerprint(&tree));
        let (a, b) = (into_entry(raw.clone()).expect("raw"), into_entry(tree.clone()).expect("tree"));
        assert_eq!(
            (a.dn.clone(), a.values("mail"), a.binary("jpegPhoto")),
            (b.dn.clone(), b.values("mail"), b.binary("jpegPhoto"))
        );
        assert_eq!(ldap3::asn1::inflate_entry(raw), tree);
    }

    #[test]
    fn high_tag_numbers_are_encoded_in_base_128() {
        let mut out = Vec::new();
        super::encode(&StructureTag { class: TagClass::Context, id: 200, payload: PL::P(b"a".to_vec()) }, &mut out);
        assert_eq!(out, [0x9f, 0x81, 0x48, 1, b'a']);
    }

    /// A raw entry cut anywhere is an error, never a shorter entry or a panic.
    #[test]
    fn raw_entries_cut_short_are_malformed() {
        let raw = raw_form(&raw_entry("uid=a,dc=x", &[("uid", &[b"a"]), ("mail", &[b"a@x", b"b@x"])]));
        let PL::P(content) = &raw.payload else { panic!("raw form") };
        for cut in 0..content.len() {
            let tag = StructureTag { payload: PL::P(content[..cut].to_vec()), ..raw.clone() };
            assert!(into_entry(tag).is_err(), "cut at {cut}");
        }
    }

    /// The first non-empty value of the attribute, whatever the case of its
    /// type and however the entry came (tree or raw); a value of another
    /// attribute is never taken for it.
    #[test]
    fn first_value_skips_other_attributes_and_empty_values() {
        let tag = raw_entry(
            "uid=a,dc=x",
            &[("uid", &[b"a"]), ("entryUUIDx", &[b"no"]), ("ENTRYUUID", &[b"", b"late"]), ("entryUUID", &[b"u1"])],
        );
        for tag in [raw_form(&tag), tag] {
            let raw = RawEntry::of(&tag).expect("entry");
            assert_eq!(raw.first_value("entryUUID"), Some(Some(&b"u1"[..])));
            assert_eq!(raw.first_value("UID"), Some(Some(&b"a"[..])));
            assert_eq!(raw.first_value("mail"), Some(None));
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
