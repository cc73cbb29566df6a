//! The password policy control of draft-behera-ldap-password-policy
//! (OpenLDAP's ppolicy overlay, 389-DS): sent empty with a bind, answered
//! with a warning (time before expiration, grace logins left) or an error
//! (expired, locked, must change). ldap3 has no parser for it; this is pure
//! BER on the value ldap3 hands over raw.

use ldap3::controls::RawControl;

pub const OID: &str = "1.3.6.1.4.1.42.2.27.8.5.1";

/// The request: the OID, not critical (a server without the overlay still
/// answers the bind), no value.
pub fn request() -> RawControl {
    RawControl { ctype: OID.into(), crit: false, val: None }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Warning {
    TimeBeforeExpiration(u32),
    GraceAuthNsRemaining(u32),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PolicyError {
    PasswordExpired,
    AccountLocked,
    ChangeAfterReset,
    /// Errors of password changes (not of binds): modification not allowed,
    /// old password needed, quality, length, age, history.
    Other(u8),
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Response {
    pub warning: Option<Warning>,
    pub error: Option<PolicyError>,
}

// Context tags: [0] warning (constructed: an explicit CHOICE), inside it
// [0] timeBeforeExpiration / [1] graceAuthNsRemaining; [1] error.
const SEQUENCE: u8 = 0x30;
const WARNING: u8 = 0xa0;
const TIME_BEFORE_EXPIRATION: u8 = 0x80;
const GRACE_AUTHNS_REMAINING: u8 = 0x81;
const ERROR: u8 = 0x81;

/// A non-negative INTEGER's content octets (at most 32 bits).
fn unsigned(content: &[u8]) -> Option<u32> {
    if content.is_empty() || content.len() > 5 || content[0] & 0x80 != 0 {
        return None;
    }
    let value = content.iter().fold(0u64, |v, &b| (v << 8) | u64::from(b));
    u32::try_from(value).ok()
}

/// The response control's value; None when it is malformed.
pub fn parse(value: &[u8]) -> Option<Response> {
    let (identifier, mut content, rest) = ldap3::asn1::split_element(value)?;
    if identifier != SEQUENCE || !rest.is_empty() {
        return None;
    }
    let mut response = Response::default();
    while !content.is_empty() {
        let (identifier, inner, after) = ldap3::asn1::split_element(content)?;
        content = after;
        match identifier {
            WARNING => {
                let (choice, number, rest) = ldap3::asn1::split_element(inner)?;
                if !rest.is_empty() {
                    return None;
                }
                let n = unsigned(number)?;
                response.warning = Some(match choice {
                    TIME_BEFORE_EXPIRATION => Warning::TimeBeforeExpiration(n),
                    GRACE_AUTHNS_REMAINING => Warning::GraceAuthNsRemaining(n),
                    _ => return None,
                });
            }
            ERROR => {
                let code = u8::try_from(unsigned(inner)?).ok()?;
                response.error = Some(match code {
                    0 => PolicyError::PasswordExpired,
                    1 => PolicyError::AccountLocked,
                    2 => PolicyError::ChangeAfterReset,
                    other => PolicyError::Other(other),
                });
            }
            _ => return None,
        }
    }
    Some(response)
}

/// The policy response among a result's controls, if the server sent one.
pub fn find(controls: &[ldap3::controls::Control]) -> Option<Response> {
    controls.iter().find(|c| c.1.ctype == OID).and_then(|c| c.1.val.as_deref()).and_then(parse)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_warnings_and_errors_as_openldap_encodes_them() {
        // SEQUENCE { [0] { [0] 3600 } }
        assert_eq!(
            parse(&[0x30, 0x06, 0xa0, 0x04, 0x80, 0x02, 0x0e, 0x10]),
            Some(Response { warning: Some(Warning::TimeBeforeExpiration(3600)), error: None })
        );
        // SEQUENCE { [0] { [1] 2 } }
        assert_eq!(
            parse(&[0x30, 0x05, 0xa0, 0x03, 0x81, 0x01, 0x02]),
            Some(Response { warning: Some(Warning::GraceAuthNsRemaining(2)), error: None })
        );
        // SEQUENCE { [1] accountLocked }, { [1] changeAfterReset }, { [1] passwordExpired }
        assert_eq!(parse(&[0x30, 0x03, 0x81, 0x01, 0x01]).and_then(|r| r.error), Some(PolicyError::AccountLocked));
        assert_eq!(parse(&[0x30, 0x03, 0x81, 0x01, 0x02]).and_then(|r| r.error), Some(PolicyError::ChangeAfterReset));
        assert_eq!(parse(&[0x30, 0x03, 0x81, 0x01, 0x00]).and_then(|r| r.error), Some(PolicyError::PasswordExpired));
        // Both, and neither (an empty sequence: no warning, no error).
        assert_eq!(
            parse(&[0x30, 0x08, 0xa0, 0x03, 0x81, 0x01, 0x01, 0x81, 0x01, 0x00]),
            Some(Response {
                warning: Some(Warning::GraceAuthNsRemaining(1)),
                error: Some(PolicyError::PasswordExpired)
            })
        );
        assert_eq!(parse(&[0x30, 0x00]), Some(Response::default()));
    }

    #[test]
    fn malformed_values_are_none_not_panics() {
        for bad in [
            &[][..],
            &[0x30],
            &[0x30, 0x05, 0xa0, 0x03],
            &[0x04, 0x00],
            &[0x30, 0x03, 0x82, 0x01, 0x00],
            &[0x30, 0x04, 0xa0, 0x02, 0x82, 0x00],
            &[0x30, 0x05, 0xa0, 0x03, 0x80, 0x01, 0xff],
            &[0x30, 0x00, 0x00],
        ] {
            assert_eq!(parse(bad), None, "{bad:?}");
        }
    }
}
