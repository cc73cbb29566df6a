//! A realistic, deterministic organisation as LDIF: departments as OUs,
//! people with names (some non-ASCII), mail, phones, titles and passwords,
//! groups (one nested) and one locked account.

use std::fmt::Write;

pub const BASE_DN: &str = "dc=example,dc=org";
/// Every generated person's password (so tests and the demo can sign in).
pub const USER_PASSWORD: &str = "Passw0rd!";
/// The account locked with pwdAccountLockedTime.
pub const LOCKED_USER: &str = "locked.user";

const FIRST: &[&str] = &[
    "Anna", "Ben", "Chloé", "David", "Elif", "Frank", "Grace", "Håkon", "Isabel", "Jürgen", "Kenji", "Laura", "Miguel",
    "Nadia", "Olivier", "Priya", "Quentin", "Rosa", "Søren", "Tomás", "Uma", "Victor", "Wei", "Xavier", "Yara", "Zoë",
    "Łukasz", "Amélie", "Björn", "Çağla",
];
const LAST: &[&str] = &[
    "Smith",
    "Müller",
    "García",
    "Dubois",
    "Rossi",
    "Nowak",
    "Johansson",
    "Tanaka",
    "Kowalski",
    "Öztürk",
    "Novák",
    "Fernández",
    "O'Brien",
    "Nguyen",
    "Schröder",
    "Lefèvre",
    "Andersen",
    "Silva",
    "Brown",
    "Ivanova",
    "Zhang",
    "Dvořák",
];
pub const DEPARTMENTS: &[&str] = &["Engineering", "Sales", "Support", "Finance", "Operations"];
const TITLES: &[&str] = &["Engineer", "Senior Engineer", "Manager", "Analyst", "Specialist", "Director", "Consultant"];
const LANGS: &[&str] = &["en", "de", "fr", "es", "it", "pl", "sv", "ja", "tr", "cs"];

/// The username of person `i`.
pub fn username(i: usize) -> String {
    let (f, l) = name(i);
    let ascii = |s: &str| -> String {
        s.chars()
            .map(|c| match c {
                'é' | 'è' => 'e',
                'ü' => 'u',
                'ö' | 'ø' | 'Ö' => 'o',
                'å' | 'á' | 'ä' => 'a',
                'ç' | 'Ç' => 'c',
                'ğ' => 'g',
                'ł' | 'Ł' => 'l',
                'ř' => 'r',
                'ë' => 'e',
                c => c,
            })
            .filter(|c| c.is_ascii_alphanumeric())
            .collect::<String>()
            .to_lowercase()
    };
    format!("{}.{}{}", ascii(f), ascii(l), i)
}

fn name(i: usize) -> (&'static str, &'static str) {
    (FIRST[i % FIRST.len()], LAST[(i / FIRST.len() + i * 7) % LAST.len()])
}

/// The DN of person `i`.
pub fn user_dn(i: usize) -> String {
    format!("uid={},ou={},ou=People,{BASE_DN}", username(i), DEPARTMENTS[i % DEPARTMENTS.len()])
}

/// Writes an attribute, base64-encoding values LDIF cannot carry as plain text.
fn attr(out: &mut String, name: &str, value: &str) {
    let safe = value.is_ascii()
        && !value.starts_with([' ', ':', '<'])
        && !value.ends_with(' ')
        && !value.contains(['\n', '\r', '\0']);
    if safe {
        let _ = writeln!(out, "{name}: {value}");
    } else {
        let _ = writeln!(out, "{name}:: {}", base64(value.as_bytes()));
    }
}

fn base64(data: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in data.chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = (b[0] as u32) << 16 | (b[1] as u32) << 8 | b[2] as u32;
        for k in 0..4 {
            if k <= chunk.len() {
                out.push(T[(n >> (18 - 6 * k) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Groups: one per department (members: that department), `All Staff`
/// (members: the department groups: nested), and `Admins` (the first few people).
pub fn group_dn(name: &str) -> String {
    format!("cn={name},ou=Groups,{BASE_DN}")
}

/// The whole directory for `users` people and `extra_groups` additional groups
/// (benchmarks use many groups).
pub fn generate(users: usize, extra_groups: usize) -> String {
    let mut out = Vec::with_capacity(users * 600 + 4096);
    // Writing to a Vec cannot fail, and every piece written is text.
    let _ = write_to(&mut out, users, extra_groups);
    String::from_utf8(out).unwrap_or_default()
}

/// Written out in pieces of about this many bytes.
const PIECE: usize = 1 << 20;

/// Writes the piece built so far once it is big enough (or `last`).
fn hand_over(out: &mut String, sink: &mut impl std::io::Write, last: bool) -> std::io::Result<()> {
    if last || out.len() >= PIECE {
        sink.write_all(out.as_bytes())?;
        out.clear();
    }
    Ok(())
}

/// [`generate`] into `sink`, a piece at a time: a million users' LDIF
/// (~600 MB) is never held in memory, so a benchmark's process measures
/// dirbridge's memory rather than the fixture's.
pub fn write_to(sink: &mut impl std::io::Write, users: usize, extra_groups: usize) -> std::io::Result<()> {
    let mut out = String::with_capacity(PIECE + 4096);
    let _ = write!(out, "dn: {BASE_DN}\nobjectClass: top\nobjectClass: dcObject\nobjectClass: organization\no: Example Org\ndc: example\n\n");
    for ou in ["People", "Groups", "Service Accounts"] {
        let _ = write!(out, "dn: ou={ou},{BASE_DN}\nobjectClass: organizationalUnit\nou: {ou}\n\n");
    }
    for d in DEPARTMENTS {
        let _ = write!(out, "dn: ou={d},ou=People,{BASE_DN}\nobjectClass: organizationalUnit\nou: {d}\n\n");
    }
    let admins = users.min(3);
    for i in 0..users {
        let (first, last) = name(i);
        let uid = username(i);
        let dept = DEPARTMENTS[i % DEPARTMENTS.len()];
        let _ = writeln!(out, "dn: {}", user_dn(i));
        out.push_str(
            "objectClass: inetOrgPerson\nobjectClass: organizationalPerson\nobjectClass: person\nobjectClass: top\n",
        );
        attr(&mut out, "uid", &uid);
        attr(&mut out, "cn", &format!("{first} {last}"));
        attr(&mut out, "sn", last);
        attr(&mut out, "givenName", first);
        attr(&mut out, "displayName", &format!("{first} {last}"));
        attr(&mut out, "mail", &format!("{uid}@example.org"));
        attr(&mut out, "telephoneNumber", &format!("+1 555 {:04}", i % 10_000));
        if i % 3 == 0 {
            attr(&mut out, "mobile", &format!("+1 555 9{:03}", i % 1000));
        }
        attr(&mut out, "title", TITLES[i % TITLES.len()]);
        attr(&mut out, "departmentNumber", dept);
        attr(&mut out, "employeeNumber", &format!("{:06}", 100_000 + i));
        attr(&mut out, "preferredLanguage", LANGS[i % LANGS.len()]);
        attr(&mut out, "userPassword", USER_PASSWORD);
        // memberof does not run under slapadd: write the back-links here.
        attr(&mut out, "memberOf", &group_dn(dept));
        if i < admins {
            attr(&mut out, "memberOf", &group_dn("Admins"));
        }
        out.push('\n');
        hand_over(&mut out, sink, false)?;
    }
    // The locked account: present in LDAP, disabled for sign-in.
    let _ = write!(
        out,
        "dn: uid={LOCKED_USER},ou=Support,ou=People,{BASE_DN}\nobjectClass: inetOrgPerson\nuid: {LOCKED_USER}\ncn: Locked User\nsn: User\ngivenName: Locked\nmail: {LOCKED_USER}@example.org\nuserPassword: {USER_PASSWORD}\npwdAccountLockedTime: 000001010000Z\ndescription: Account locked by the security team\n\n"
    );
    let _ = write!(
        out,
        "dn: cn=dirbridge,ou=Service Accounts,{BASE_DN}\nobjectClass: inetOrgPerson\ncn: dirbridge\nsn: Service\nuid: svc-dirbridge\nuserPassword: {USER_PASSWORD}\n\n"
    );
    for (gi, d) in DEPARTMENTS.iter().enumerate() {
        let _ = write!(out, "dn: {}\nobjectClass: groupOfNames\ncn: {d}\ndescription: Everyone in {d}\n", group_dn(d));
        let mut any = false;
        for i in (gi..users).step_by(DEPARTMENTS.len()) {
            let _ = writeln!(out, "member: {}", user_dn(i));
            any = true;
            hand_over(&mut out, sink, false)?;
        }
        if !any {
            let _ = writeln!(out, "member: cn=dirbridge,ou=Service Accounts,{BASE_DN}");
        }
        out.push('\n');
    }
    let _ = write!(
        out,
        "dn: {}\nobjectClass: groupOfNames\ncn: All Staff\ndescription: Nested: every department group\n",
        group_dn("All Staff")
    );
    for d in DEPARTMENTS {
        let _ = writeln!(out, "member: {}", group_dn(d));
    }
    out.push('\n');
    let _ = write!(out, "dn: {}\nobjectClass: groupOfNames\ncn: Admins\n", group_dn("Admins"));
    for i in 0..admins {
        let _ = writeln!(out, "member: {}", user_dn(i));
    }
    if admins == 0 {
        let _ = writeln!(out, "member: cn=dirbridge,ou=Service Accounts,{BASE_DN}");
    }
    out.push('\n');
    // The other two membership styles: uniqueMember (one value with the
    // optional unique-id suffix) and posix memberUid.
    if users >= 3 {
        let _ = write!(
            out,
            "dn: {}\nobjectClass: groupOfUniqueNames\ncn: Auditors\nuniqueMember: {}\nuniqueMember: {}#'0101'B\n\n",
            group_dn("Auditors"),
            user_dn(0),
            user_dn(1)
        );
        let _ = write!(
            out,
            "dn: {}\nobjectClass: posixGroup\ncn: posix-devs\ngidNumber: 5000\nmemberUid: {}\nmemberUid: {}\n\n",
            group_dn("posix-devs"),
            username(0),
            username(2)
        );
    }
    for g in 0..extra_groups {
        let _ = write!(out, "dn: {}\nobjectClass: groupOfNames\ncn: team-{g:04}\n", group_dn(&format!("team-{g:04}")));
        let per = 10.min(users.max(1));
        for k in 0..per {
            if users > 0 {
                let _ = writeln!(out, "member: {}", user_dn((g * 37 + k * 101) % users));
            }
        }
        if users == 0 {
            let _ = writeln!(out, "member: cn=dirbridge,ou=Service Accounts,{BASE_DN}");
        }
        out.push('\n');
        hand_over(&mut out, sink, false)?;
    }
    hand_over(&mut out, sink, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames_are_unique_and_ascii() {
        let names: std::collections::HashSet<_> = (0..1000).map(username).collect();
        assert_eq!(names.len(), 1000);
        assert!(names.iter().all(|n| n.is_ascii()));
    }

    #[test]
    fn non_ascii_values_are_base64() {
        let ldif = generate(40, 0);
        assert!(!ldif.contains("Jürgen"), "UTF-8 must be base64 in LDIF");
        assert!(ldif.contains("givenName:: SsO8cmdlbg=="));
        assert_eq!(ldif.matches("\ndn: uid=").count() + usize::from(ldif.starts_with("dn: uid=")), 41);
    }

    #[test]
    fn a_large_directory_is_written_in_bounded_pieces() {
        /// Records the size of every write.
        struct Pieces(Vec<usize>, Vec<u8>);
        impl std::io::Write for Pieces {
            fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
                self.0.push(buf.len());
                self.1.extend_from_slice(buf);
                Ok(buf.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let mut sink = Pieces(Vec::new(), Vec::new());
        write_to(&mut sink, 5_000, 3).expect("write");
        assert!(sink.0.len() > 2, "{:?}", sink.0);
        assert!(sink.0.iter().all(|&n| n < PIECE + 4096), "{:?}", sink.0);
        let text = String::from_utf8(sink.1).expect("utf-8");
        // The people and the locked account.
        assert_eq!(text.matches("\ndn: uid=").count(), 5_000 + 1);
        assert_eq!(text.matches("\ndn: cn=team-").count(), 3);
        assert!(text.ends_with("\n\n"));
    }

    #[test]
    fn base64_matches_rfc4648() {
        assert_eq!(base64(b"Man"), "TWFu");
        assert_eq!(base64(b"Ma"), "TWE=");
        assert_eq!(base64(b"M"), "TQ==");
    }
}
