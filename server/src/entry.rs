//! A directory entry as mapping sees it: its DN and values by attribute
//! name, how its UUID reads as canonical text, and how attribute
//! descriptions carry Active Directory's range windows. Pure: the LDAP layer
//! builds these from messages, mapping reads them, neither imports the other.

use std::collections::HashMap;

/// An entry's attributes by name. FxHash: every entry of a sync builds two
/// such maps and looks a dozen names up; SipHash's DoS resistance buys
/// nothing for a handful of names the configured directory sends.
pub type Attributes<V> = HashMap<String, V, rustc_hash::FxBuildHasher>;

/// A directory entry as the server sent it. LDAP attribute names are
/// case-insensitive and servers return them in any case, so lookups ignore
/// case (a linear scan of a dozen names is cheaper than re-keying every
/// entry of a million-user sync).
#[derive(Clone, Debug, Default)]
pub struct Entry {
    pub dn: String,
    pub attrs: Attributes<Vec<String>>,
    pub bin_attrs: Attributes<Vec<Vec<u8>>>,
}

fn lookup<'a, V>(map: &'a Attributes<V>, name: &str) -> Option<&'a V> {
    map.get(name).or_else(|| map.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v))
}

impl Entry {
    pub fn new(dn: String, attrs: Attributes<Vec<String>>, bin_attrs: Attributes<Vec<Vec<u8>>>) -> Entry {
        Entry { dn, attrs, bin_attrs }
    }

    pub fn values(&self, name: &str) -> &[String] {
        lookup(&self.attrs, name).map(Vec::as_slice).unwrap_or(&[])
    }

    /// Values that are not UTF-8 text (binary attributes).
    pub fn binary(&self, name: &str) -> Option<&Vec<Vec<u8>>> {
        lookup(&self.bin_attrs, name)
    }
}

/// What mapping reads of an entry: its DN and its values by attribute name
/// (any case). An [`Entry`] owns them; a sync maps entries as
/// `ldap::entry::EntryView`s, borrowed from the message they arrived in.
pub trait EntryAttributes {
    fn dn(&self) -> &str;

    /// The text values of `name`, in the order sent.
    fn text<'s>(&'s self, name: &'s str) -> impl Iterator<Item = &'s str> + 's;

    /// The values of `name` that are not UTF-8 text (the attribute counts
    /// as binary when one of its values is not).
    fn binary<'s>(&'s self, name: &'s str) -> impl Iterator<Item = &'s [u8]> + 's;

    /// The first text value, when it is not empty.
    fn first<'s>(&'s self, name: &'s str) -> Option<&'s str> {
        self.text(name).next().filter(|v| !v.is_empty())
    }

    /// Whether any attribute has binary values (few entries do: the others
    /// need no lookups for `mapping::non_utf8_attributes`).
    fn any_binary(&self) -> bool;
}

impl EntryAttributes for Entry {
    fn dn(&self) -> &str {
        &self.dn
    }

    fn text<'s>(&'s self, name: &'s str) -> impl Iterator<Item = &'s str> + 's {
        self.values(name).iter().map(String::as_str)
    }

    fn binary<'s>(&'s self, name: &'s str) -> impl Iterator<Item = &'s [u8]> + 's {
        Entry::binary(self, name).into_iter().flatten().map(Vec::as_slice)
    }

    fn any_binary(&self) -> bool {
        self.bin_attrs.values().any(|values| !values.is_empty())
    }
}

/// The canonical text of a UUID attribute: entryUUID as is, AD's binary
/// objectGUID in its mixed-endian GUID form, 389-DS's nsUniqueId re-grouped.
pub fn uuid_of(entry: &impl EntryAttributes, uuid_attribute: &str) -> Option<String> {
    if let Some(bytes) = entry.binary(uuid_attribute).next() {
        return Some(uuid_from_value(uuid_attribute, bytes));
    }
    entry.first(uuid_attribute).map(|text| uuid_from_value(uuid_attribute, text.as_bytes()))
}

/// The canonical UUID text of one raw value of the UUID attribute (see
/// [`uuid_of`]). AD's objectGUID is binary even when its 16 bytes happen to
/// be valid UTF-8.
pub fn uuid_from_value(uuid_attribute: &str, value: &[u8]) -> String {
    let text = std::str::from_utf8(value).ok().filter(|_| !uuid_attribute.eq_ignore_ascii_case("objectGUID"));
    let Some(text) = text else {
        return if value.len() == 16 { guid_to_string(value) } else { hex::encode(value) };
    };
    // Read for every entry of a sync, and entryUUID / nsUniqueId-style
    // values mostly arrive canonical already: checked in one pass, copied.
    if is_canonical_uuid(text.as_bytes()) {
        return text.to_string();
    }
    // Otherwise one allocation, no intermediate text.
    let mut digits = [0u8; 32];
    let mut count = 0;
    for &b in text.as_bytes().iter().filter(|b| **b != b'-') {
        if count == 32 || !b.is_ascii_hexdigit() {
            return text.to_string();
        }
        digits[count] = b.to_ascii_lowercase();
        count += 1;
    }
    if count != 32 {
        return text.to_string();
    }
    let mut canonical = String::with_capacity(36);
    for (i, &d) in digits.iter().enumerate() {
        if matches!(i, 8 | 12 | 16 | 20) {
            canonical.push('-');
        }
        canonical.push(char::from(d));
    }
    canonical
}

/// 36 characters, lower-case hex digits with dashes at 8, 13, 18 and 23.
fn is_canonical_uuid(b: &[u8]) -> bool {
    b.len() == 36
        && b.iter().enumerate().all(|(i, &c)| match i {
            8 | 13 | 18 | 23 => c == b'-',
            _ => c.is_ascii_digit() || (b'a'..=b'f').contains(&c),
        })
}

/// Formats a 16-byte Microsoft GUID (first three groups little-endian).
pub fn guid_to_string(b: &[u8]) -> String {
    format!(
        "{:02x}{:02x}{:02x}{:02x}-{:02x}{:02x}-{:02x}{:02x}-{:02x}{:02x}-{}",
        b[3],
        b[2],
        b[1],
        b[0],
        b[5],
        b[4],
        b[7],
        b[6],
        b[8],
        b[9],
        hex::encode(&b[10..16])
    )
}

/// A filter clause matching an entry by its canonical UUID text (the inverse
/// of `uuid_of`): AD's objectGUID as escaped bytes, 389-DS's nsUniqueId in its
/// own grouping, anything else as the string.
pub fn uuid_clause(uuid_attribute: &str, uuid: &str) -> Option<String> {
    let hex: String = uuid.chars().filter(|c| *c != '-').collect();
    let is_hex = hex.len() == 32 && hex.chars().all(|c| c.is_ascii_hexdigit());
    match uuid_attribute.to_ascii_lowercase().as_str() {
        "objectguid" => {
            if !is_hex {
                return None;
            }
            let b: Vec<&str> = (0..16).map(|i| &hex[2 * i..2 * i + 2]).collect();
            let order = [3, 2, 1, 0, 5, 4, 7, 6, 8, 9, 10, 11, 12, 13, 14, 15];
            Some(format!("(objectGUID={})", order.iter().map(|&i| format!("\\{}", b[i])).collect::<String>()))
        }
        "nsuniqueid" if is_hex => {
            Some(format!("(nsUniqueId={}-{}-{}-{})", &hex[0..8], &hex[8..16], &hex[16..24], &hex[24..32]))
        }
        _ => Some(format!("({uuid_attribute}={})", crate::filter::escape_value(uuid))),
    }
}

/// Values asked for per window: Active Directory's default MaxValRange, so
/// asking explicitly costs no more round trips than AD's own windows.
pub const RANGE_WINDOW: u64 = 1500;

/// One window of an attribute's values as the server labelled it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Window {
    /// The attribute description without the range option (`member`).
    pub attribute: String,
    pub start: u64,
    /// The last value's index; None for `*` (the window holds the rest).
    pub end: Option<u64>,
}

/// Splits `member;range=0-1499` into its attribute and window; None when the
/// description has no range option (or a malformed one).
pub fn parse_range(description: &str) -> Option<Window> {
    let mut options = description.split(';');
    let mut attribute = options.next()?.to_string();
    let mut window = None;
    for option in options {
        let range = option.get(..6).filter(|p| p.eq_ignore_ascii_case("range=")).map(|_| &option[6..]);
        match range {
            Some(bounds) if window.is_none() => {
                let (start, end) = bounds.split_once('-')?;
                let start = start.parse().ok()?;
                let end = if end == "*" { None } else { Some(end.parse().ok().filter(|e| *e >= start)?) };
                window = Some((start, end));
            }
            // Other options (`;binary`, language tags) stay in the name.
            _ => {
                attribute.push(';');
                attribute.push_str(option);
            }
        }
    }
    let (start, end) = window?;
    Some(Window { attribute, start, end })
}

/// The description that asks for `attribute`'s values from `start` on, one
/// window at a time.
pub fn range_request(attribute: &str, start: u64) -> String {
    format!("{attribute};range={start}-{}", start + RANGE_WINDOW - 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn window(attribute: &str, start: u64, end: Option<u64>) -> Option<Window> {
        Some(Window { attribute: attribute.into(), start, end })
    }

    #[test]
    fn parses_windows_and_ignores_other_descriptions() {
        assert_eq!(parse_range("member;range=0-1499"), window("member", 0, Some(1499)));
        assert_eq!(parse_range("member;Range=1500-*"), window("member", 1500, None));
        assert_eq!(parse_range("member;binary;range=3-4"), window("member;binary", 3, Some(4)));
        assert_eq!(parse_range("member"), None);
        assert_eq!(parse_range("member;lang-en"), None);
        // Malformed windows are not windows: the attribute keeps its name
        // and nothing is asked for on the strength of a bad end.
        assert_eq!(parse_range("member;range=5-2"), None);
        assert_eq!(parse_range("member;range=a-*"), None);
        assert_eq!(parse_range("member;range=0"), None);
    }

    #[test]
    fn requests_one_window_from_a_start() {
        assert_eq!(range_request("member", 0), "member;range=0-1499");
        assert_eq!(range_request("member", 1500), "member;range=1500-2999");
    }
}
