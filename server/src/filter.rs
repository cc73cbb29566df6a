//! LDAP search filters (RFC 4515): validation with a positioned message, and
//! building the user filter of a repository.

/// Checks that `input` is one complete RFC 4515 filter.
pub fn validate(input: &str) -> Result<(), String> {
    let chars: Vec<char> = input.trim().chars().collect();
    if chars.is_empty() {
        return Err("the filter is empty".into());
    }
    let mut p = Parser { chars: &chars, pos: 0 };
    p.filter()?;
    if p.pos != chars.len() {
        return Err(format!("unexpected text after the filter at position {}", p.pos + 1));
    }
    Ok(())
}

struct Parser<'a> {
    chars: &'a [char],
    pos: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn expect(&mut self, c: char) -> Result<(), String> {
        match self.peek() {
            Some(x) if x == c => {
                self.pos += 1;
                Ok(())
            }
            Some(x) => Err(format!("expected '{c}' at position {} but found '{x}'", self.pos + 1)),
            None => Err(format!("expected '{c}' at the end (unbalanced parentheses?)")),
        }
    }

    fn filter(&mut self) -> Result<(), String> {
        self.expect('(')?;
        match self.peek() {
            Some('&') | Some('|') => {
                self.pos += 1;
                let mut n = 0;
                while self.peek() == Some('(') {
                    self.filter()?;
                    n += 1;
                }
                if n == 0 {
                    return Err(format!("'&' or '|' needs at least one filter (position {})", self.pos + 1));
                }
            }
            Some('!') => {
                self.pos += 1;
                self.filter()?;
            }
            _ => self.item()?,
        }
        self.expect(')')
    }

    fn item(&mut self) -> Result<(), String> {
        let start = self.pos;
        while let Some(c) = self.peek() {
            if c.is_ascii_alphanumeric() || c == '-' || c == '.' || c == ';' || c == ':' {
                self.pos += 1;
            } else {
                break;
            }
        }
        let lhs: String = self.chars[start..self.pos].iter().collect();
        let op_pos = self.pos;
        let op = match (self.peek(), self.chars.get(self.pos + 1)) {
            (Some('~'), Some('=')) | (Some('>'), Some('=')) | (Some('<'), Some('=')) => {
                self.pos += 2;
                "cmp"
            }
            (Some('='), _) => {
                self.pos += 1;
                "eq"
            }
            (Some(c), _) => return Err(format!("unexpected '{c}' at position {}", self.pos + 1)),
            (None, _) => return Err("the filter ends early".into()),
        };
        if lhs.is_empty() {
            return Err(format!("missing attribute before position {}", op_pos + 1));
        }
        if let Some(rest) = lhs.strip_suffix(':') {
            // Extensible match: attr[:dn][:rule]:= or [:dn]:rule:=
            if op != "eq" {
                return Err("an extensible match uses ':='".into());
            }
            let parts: Vec<&str> = rest.split(':').collect();
            if parts.iter().skip(1).any(|p| p.is_empty()) {
                return Err(format!("malformed extensible match '{lhs}='"));
            }
        } else {
            let attr = lhs.split(';').next().unwrap_or_default();
            if lhs.contains(':') || !crate::dn::is_attribute_type(attr) {
                return Err(format!("'{lhs}' is not a valid attribute description"));
            }
        }
        self.value(op == "eq" && !lhs.ends_with(':'))
    }

    /// A value up to the closing parenthesis; `*` only where substrings are allowed.
    fn value(&mut self, allow_star: bool) -> Result<(), String> {
        while let Some(c) = self.peek() {
            match c {
                ')' => return Ok(()),
                '(' => return Err(format!("'(' must be escaped as \\28 (position {})", self.pos + 1)),
                '*' if !allow_star => return Err(format!("'*' must be escaped as \\2a (position {})", self.pos + 1)),
                '\\' => {
                    let ok = self.chars.get(self.pos + 1).is_some_and(|c| c.is_ascii_hexdigit())
                        && self.chars.get(self.pos + 2).is_some_and(|c| c.is_ascii_hexdigit());
                    if !ok {
                        return Err(format!("'\\' must start a two-digit hex escape (position {})", self.pos + 1));
                    }
                    self.pos += 3;
                }
                '\0' => return Err("NUL must be escaped as \\00".into()),
                _ => self.pos += 1,
            }
        }
        Err("missing ')' at the end".into())
    }
}

/// Escapes a value for use inside a filter (RFC 4515 section 3).
pub fn escape_value(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '*' => out.push_str("\\2a"),
            '(' => out.push_str("\\28"),
            ')' => out.push_str("\\29"),
            '\\' => out.push_str("\\5c"),
            '\0' => out.push_str("\\00"),
            _ => out.push(c),
        }
    }
    out
}

/// Wraps a filter in parentheses when an admin left them out (`uid=x`).
pub fn parenthesize(filter: &str) -> String {
    let f = filter.trim();
    if f.starts_with('(') {
        f.to_string()
    } else {
        format!("({f})")
    }
}

/// The filter selecting a repository's users: all object classes, all extra
/// filters, and optionally one more clause (e.g. a username match).
pub fn user_filter(object_classes: &[String], filters: &[String], extra: Option<String>) -> String {
    let mut parts: Vec<String> =
        object_classes.iter().map(|oc| format!("(objectClass={})", escape_value(oc.trim()))).collect();
    parts.extend(filters.iter().filter(|f| !f.trim().is_empty()).map(|f| parenthesize(f)));
    parts.extend(extra);
    match parts.len() {
        0 => "(objectClass=*)".to_string(),
        1 => parts.remove(0),
        _ => format!("(&{})", parts.concat()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_rfc4515_examples() {
        for ok in [
            "(cn=Babs Jensen)",
            "(!(cn=Tim Howes))",
            "(&(objectClass=Person)(|(sn=Jensen)(cn=Babs J*)))",
            "(o=univ*of*mich*)",
            "(seeAlso=)",
            "(cn:caseExactMatch:=Fred Flintstone)",
            "(cn:=Betty Rubble)",
            "(sn:dn:2.4.6.8.10:=Barney Rubble)",
            "(o:dn:=Ace Industry)",
            "(:1.2.3:=Wilma Flintstone)",
            "(:DN:2.4.6.8.10:=Dino)",
            r"(o=Parens R Us \28for all your parenthetical needs\29)",
            r"(cn=*\2A*)",
            r"(filename=C:\5cMyFile)",
            "(userAccountControl:1.2.840.113556.1.4.803:=2)",
            "(mail=*)",
            "(createTimestamp>=20240101000000Z)",
        ] {
            assert_eq!(validate(ok), Ok(()), "{ok}");
        }
    }

    #[test]
    fn rejects_malformed_filters_with_a_reason() {
        for bad in [
            "",
            "cn=x",
            "(cn=x",
            "(cn=x))",
            "(&)",
            "(=x)",
            "(cn=a(b)",
            r"(cn=a\zz)",
            "(cn>=a*)",
            "(c n=x)",
            "(cn=x)(sn=y)",
        ] {
            assert!(validate(bad).is_err(), "{bad} should be rejected");
        }
        assert!(validate("(cn=x").expect_err("unbalanced").contains("')'"));
    }

    #[test]
    fn builds_user_filters() {
        let oc = vec!["inetOrgPerson".to_string(), "organizationalPerson".to_string()];
        assert_eq!(user_filter(&oc[..1], &[], None), "(objectClass=inetOrgPerson)");
        assert_eq!(
            user_filter(&oc, &["department=Sales".into()], Some(format!("(uid={})", escape_value("a*b")))),
            r"(&(objectClass=inetOrgPerson)(objectClass=organizationalPerson)(department=Sales)(uid=a\2ab))"
        );
        assert_eq!(user_filter(&[], &[], None), "(objectClass=*)");
    }
}
