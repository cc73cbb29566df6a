//! Distinguished names (RFC 4514): parsing for validation and a normalised
//! form for comparisons (attribute types and values are case-insensitive for
//! the directory attributes dirbridge compares: cn, ou, dc, uid, ...).

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ava {
    pub attr: String,
    pub value: String,
}

/// A parsed DN: RDNs from the leaf to the root; each RDN has one or more AVAs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Dn {
    pub rdns: Vec<Vec<Ava>>,
}

const SPECIAL: &[char] = &[',', '+', '"', '\\', '<', '>', ';', '=', '#', ' '];

impl Dn {
    pub fn parse(input: &str) -> Result<Dn, String> {
        let s = input.trim();
        if s.is_empty() {
            return Ok(Dn { rdns: Vec::new() });
        }
        let chars: Vec<char> = s.chars().collect();
        let mut pos = 0;
        let mut rdns = Vec::new();
        loop {
            let mut rdn = Vec::new();
            loop {
                let ava = parse_ava(&chars, &mut pos)?;
                rdn.push(ava);
                match chars.get(pos) {
                    Some('+') => pos += 1,
                    _ => break,
                }
            }
            rdns.push(rdn);
            match chars.get(pos) {
                None => break,
                Some(',') | Some(';') => {
                    pos += 1;
                    if pos >= chars.len() {
                        return Err("ends with a separator".into());
                    }
                }
                Some(c) => return Err(format!("unexpected '{c}' at position {}", pos + 1)),
            }
        }
        Ok(Dn { rdns })
    }

    /// Lower-cased, unescaped, whitespace-trimmed; for equality and suffix tests.
    pub fn normalized(&self) -> Vec<Vec<(String, String)>> {
        self.rdns
            .iter()
            .map(|rdn| {
                let mut avas: Vec<(String, String)> =
                    rdn.iter().map(|a| (a.attr.to_ascii_lowercase(), a.value.trim().to_lowercase())).collect();
                avas.sort();
                avas
            })
            .collect()
    }

    /// True when `self` equals `ancestor` or lies below it.
    pub fn is_within(&self, ancestor: &Dn) -> bool {
        let me = self.normalized();
        let anc = ancestor.normalized();
        anc.len() <= me.len() && me[me.len() - anc.len()..] == anc[..]
    }
}

/// Normalises a DN string for comparison; unparsable DNs compare as their
/// lower-cased text.
pub fn normalize(dn: &str) -> String {
    normalize_plain(dn).unwrap_or_else(|| normalize_general(dn))
}

fn normalize_general(dn: &str) -> String {
    match Dn::parse(dn) {
        Ok(parsed) => parsed
            .normalized()
            .iter()
            .map(|rdn| rdn.iter().map(|(a, v)| format!("{a}={v}")).collect::<Vec<_>>().join("+"))
            .collect::<Vec<_>>()
            .join(","),
        Err(_) => dn.trim().to_lowercase(),
    }
}

/// [`normalize`] for the DNs directories send for nearly every member value:
/// ASCII, one AVA per RDN, no escapes, quotes or hex values. A group of
/// 100,000 members is normalised member by member, so this is one pass over
/// the bytes with a table for the value bytes (the general parser cost
/// ~17,000 instructions a DN, splitting and searching `str`s ~4,000). None
/// when the DN needs the general parser; the same result otherwise.
fn normalize_plain(dn: &str) -> Option<String> {
    let s = dn.trim().as_bytes();
    if s.is_empty() {
        return None;
    }
    let at = |i: usize| s.get(i).copied();
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    loop {
        while at(i) == Some(b' ') {
            i += 1;
        }
        let start = i;
        while at(i).is_some_and(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.') {
            i += 1;
        }
        let attr = &s[start..i];
        while at(i) == Some(b' ') {
            i += 1;
        }
        if at(i) != Some(b'=') || !is_attribute_type_bytes(attr) {
            return None;
        }
        i += 1;
        let start = i;
        while at(i).is_some_and(|b| PLAIN_VALUE_BYTE[usize::from(b)]) {
            i += 1;
        }
        if !out.is_empty() {
            out.push(b',');
        }
        out.extend_from_slice(attr);
        out.push(b'=');
        out.extend_from_slice(trim_spaces(&s[start..i]));
        match at(i) {
            None => break,
            Some(b',') => i += 1,
            // A byte that needs the general parser.
            Some(_) => return None,
        }
    }
    out.make_ascii_lowercase();
    // Only ASCII was written.
    String::from_utf8(out).ok()
}

/// The bytes a value of a plain DN may hold: printable ASCII and the space,
/// without the separators, escapes and quotes of RFC 4514.
const PLAIN_VALUE_BYTE: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = b' ';
    while b < 0x7f {
        table[b as usize] = !matches!(b, b'\\' | b'"' | b'+' | b'#' | b';' | b'<' | b'>' | b'=' | b',');
        b += 1;
    }
    table
};

fn trim_spaces(mut bytes: &[u8]) -> &[u8] {
    while let [b' ', rest @ ..] = bytes {
        bytes = rest;
    }
    while let [rest @ .., b' '] = bytes {
        bytes = rest;
    }
    bytes
}

/// True when `dn` equals `ancestor` or lies below it (both as strings).
pub fn is_within(dn: &str, ancestor: &str) -> bool {
    // Plain DNs (see `normalize_plain`): separators are the only commas, so
    // a suffix at a comma is a suffix of whole RDNs. Assignments by OU ask
    // this for every user a sync maps.
    if let (Some(dn), Some(ancestor)) = (normalize_plain(dn), normalize_plain(ancestor)) {
        return match dn.len().checked_sub(ancestor.len()) {
            Some(0) => dn == ancestor,
            Some(at) => dn.ends_with(&ancestor) && dn.as_bytes()[at - 1] == b',',
            None => false,
        };
    }
    match (Dn::parse(dn), Dn::parse(ancestor)) {
        (Ok(d), Ok(a)) => d.is_within(&a),
        _ => false,
    }
}

fn skip_spaces(chars: &[char], pos: &mut usize) {
    while chars.get(*pos) == Some(&' ') {
        *pos += 1;
    }
}

fn parse_ava(chars: &[char], pos: &mut usize) -> Result<Ava, String> {
    skip_spaces(chars, pos);
    let start = *pos;
    while let Some(c) = chars.get(*pos) {
        if c.is_ascii_alphanumeric() || *c == '-' || *c == '.' {
            *pos += 1;
        } else {
            break;
        }
    }
    let attr: String = chars[start..*pos].iter().collect();
    if attr.is_empty() {
        return Err(format!("expected an attribute type at position {}", start + 1));
    }
    if !is_attribute_type(&attr) {
        return Err(format!("'{attr}' is not a valid attribute type"));
    }
    skip_spaces(chars, pos);
    if chars.get(*pos) != Some(&'=') {
        return Err(format!("expected '=' after '{attr}'"));
    }
    *pos += 1;
    let value = parse_value(chars, pos)?;
    Ok(Ava { attr, value })
}

/// An attribute type: a descriptor (`cn`, `objectGUID`) or a numeric OID.
pub fn is_attribute_type(s: &str) -> bool {
    is_attribute_type_bytes(s.as_bytes())
}

fn is_attribute_type_bytes(s: &[u8]) -> bool {
    match s.first() {
        Some(c) if c.is_ascii_alphabetic() => s.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'-'),
        Some(c) if c.is_ascii_digit() => {
            s.split(|c| *c == b'.').all(|part| !part.is_empty() && part.iter().all(u8::is_ascii_digit))
        }
        _ => false,
    }
}

fn hex_val(c: char) -> Option<u8> {
    c.to_digit(16).map(|d| d as u8)
}

fn parse_value(chars: &[char], pos: &mut usize) -> Result<String, String> {
    // Hex-encoded BER value: keep it as written.
    if chars.get(*pos) == Some(&'#') {
        let start = *pos;
        *pos += 1;
        while chars.get(*pos).is_some_and(|c| c.is_ascii_hexdigit()) {
            *pos += 1;
        }
        let len = *pos - start - 1;
        if len == 0 || !len.is_multiple_of(2) {
            return Err("a '#' value needs an even number of hex digits".into());
        }
        return Ok(chars[start..*pos].iter().collect());
    }
    let mut bytes: Vec<u8> = Vec::new();
    let mut trailing_unescaped_spaces = 0;
    while let Some(&c) = chars.get(*pos) {
        match c {
            ',' | ';' | '+' => break,
            '\\' => {
                trailing_unescaped_spaces = 0;
                let next = chars.get(*pos + 1).copied().ok_or("a value ends with a lone '\\'")?;
                if let (Some(h), Some(l)) = (hex_val(next), chars.get(*pos + 2).and_then(|c| hex_val(*c))) {
                    bytes.push(h * 16 + l);
                    *pos += 3;
                } else if SPECIAL.contains(&next) {
                    let mut buf = [0u8; 4];
                    bytes.extend_from_slice(next.encode_utf8(&mut buf).as_bytes());
                    *pos += 2;
                } else {
                    return Err(format!("invalid escape '\\{next}'"));
                }
            }
            '"' | '<' | '>' | '=' | '\0' => {
                return Err(format!("'{c}' must be escaped in a value"));
            }
            _ => {
                if c == ' ' {
                    trailing_unescaped_spaces += 1;
                } else {
                    trailing_unescaped_spaces = 0;
                }
                let mut buf = [0u8; 4];
                bytes.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                *pos += 1;
            }
        }
    }
    bytes.truncate(bytes.len() - trailing_unescaped_spaces);
    String::from_utf8(bytes).map_err(|_| "an escaped value is not valid UTF-8".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_plain_multi_and_escaped_dns() {
        let dn = Dn::parse("uid=jdoe,ou=People,dc=example,dc=org").expect("valid");
        assert_eq!(dn.rdns.len(), 4);
        assert_eq!(dn.rdns[0][0], Ava { attr: "uid".into(), value: "jdoe".into() });

        let multi = Dn::parse("cn=A+sn=B,dc=x").expect("valid");
        assert_eq!(multi.rdns[0].len(), 2);

        let escaped = Dn::parse(r"cn=Doe\, John,ou=Users\2C Inc,dc=x").expect("valid");
        assert_eq!(escaped.rdns[0][0].value, "Doe, John");
        assert_eq!(escaped.rdns[1][0].value, "Users, Inc");

        let utf8 = Dn::parse(r"cn=J\C3\BCrgen,dc=x").expect("valid");
        assert_eq!(utf8.rdns[0][0].value, "Jürgen");
        assert!(Dn::parse("cn=Jürgen Müller,dc=x").is_ok());
        assert!(Dn::parse("1.2.3.4=#0403616263,dc=x").is_ok());
        assert!(Dn::parse("CN=Users, DC=corp , DC=local").is_ok());
    }

    #[test]
    fn rejects_malformed_dns() {
        for bad in ["dc=example,", "=x", "dc", "dc=a,,dc=b", "cn=a\"b", r"cn=a\zz", "c n=x", "cn=x,dc=y<", "#=1"] {
            assert!(Dn::parse(bad).is_err(), "{bad} should be rejected");
        }
    }

    /// Every DN built from these pieces that the fast path takes must come
    /// out as the general parser has it (checked to fail when the fast path
    /// keeps a value's spaces or skips the attribute-type check).
    #[test]
    fn plain_dns_normalise_as_the_general_parser_has_them() {
        let attrs = ["cn", "CN", " uid ", "ou", "DC", "1.2.840.113556", "c n", "", "o-x", "9x", "c_n"];
        let values = ["John", "  Doe ", "a b", "x=y", "", "Jürgen", r"a\,b", "#04", "a+b", "q\"", "a<b", "A.B-C_d@e"];
        let separators = [",", ", ", " ,", ";", ",,"];
        let mut fast = 0;
        for a1 in attrs {
            for v1 in values {
                for sep in separators {
                    for (a2, v2) in [("dc", "Example"), ("OU", " People "), ("cn", "x=y")] {
                        for dn in [
                            format!("{a1}={v1}{sep}{a2}={v2}"),
                            format!(" {a1}={v1}{sep}{a2}={v2},"),
                            format!("{a1}={v1}"),
                        ] {
                            if let Some(plain) = normalize_plain(&dn) {
                                fast += 1;
                                assert_eq!(plain, normalize_general(&dn), "{dn:?}");
                            }
                        }
                    }
                }
            }
        }
        // The pieces reach the fast path often enough to mean something.
        assert!(fast > 300, "{fast}");
        assert_eq!(normalize("UID=Anna , OU=People,DC=example, dc=org"), "uid=anna,ou=people,dc=example,dc=org");
    }

    /// Containment of plain DNs, compared as strings, agrees with the parsed
    /// comparison (checked to fail without the comma boundary).
    #[test]
    fn plain_containment_agrees_with_the_general_parser() {
        let dns = [
            "uid=a,ou=People,dc=example,dc=org",
            "UID=a , OU=people,DC=Example,dc=org",
            "ou=People,dc=example,dc=org",
            "ou=otherPeople,dc=example,dc=org",
            "uid=a,ou=otherPeople,dc=example,dc=org",
            "dc=example,dc=org",
            "dc=org",
            "xdc=org",
            "dc=example,dc=org2",
            "cn=a\\,b,dc=org",
            "cn=a+sn=b,dc=org",
        ];
        for dn in dns {
            for ancestor in dns {
                let general = match (Dn::parse(dn), Dn::parse(ancestor)) {
                    (Ok(d), Ok(a)) => d.is_within(&a),
                    _ => false,
                };
                assert_eq!(is_within(dn, ancestor), general, "{dn} within {ancestor}");
            }
        }
    }

    #[test]
    fn compares_case_and_space_insensitively() {
        assert_eq!(normalize("CN=John , DC=Example,dc=ORG"), normalize("cn=john,dc=example,dc=org"));
        assert!(is_within("uid=a,ou=People,dc=example,dc=org", "DC=Example,DC=org"));
        assert!(is_within("dc=example,dc=org", "dc=example,dc=org"));
        assert!(!is_within("dc=org", "dc=example,dc=org"));
        assert!(!is_within("uid=a,ou=people,dc=other,dc=org", "dc=example,dc=org"));
    }
}
