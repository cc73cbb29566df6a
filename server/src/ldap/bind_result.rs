//! What a user bind's result says about the account: accepted (with a
//! password-policy warning), or refused and why. Active Directory (and
//! Samba) put the reason in the diagnostic message as `data 52e`; OpenLDAP
//! and 389-DS in the password policy response control. Pure.

use super::ppolicy::{self, PolicyError, Warning};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// Unknown DN or wrong password.
    InvalidCredentials,
    AccountLocked,
    PasswordExpired,
    PasswordMustChange,
    AccountDisabled,
    AccountExpired,
    /// Not allowed now or from here (logon hours, workstations).
    LogonRestricted,
}

impl Refusal {
    /// What the refusal says of the account, for a caller allowed to hear it.
    pub fn describe(self) -> &'static str {
        match self {
            Refusal::InvalidCredentials => "invalid credentials",
            Refusal::AccountLocked => "the account is locked",
            Refusal::PasswordExpired => "the password has expired",
            Refusal::PasswordMustChange => "the password must be changed before signing in",
            Refusal::AccountDisabled => "the account is disabled",
            Refusal::AccountExpired => "the account has expired",
            Refusal::LogonRestricted => "the account may not sign in at this time or from here",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    Accepted {
        /// Seconds until the password expires.
        expires_in: Option<u32>,
        grace_logins_remaining: Option<u32>,
        /// Bound, but the server allows nothing but a password change.
        must_change: bool,
    },
    Refused {
        refusal: Refusal,
        /// Whether the directory's answer shows that the password was right:
        /// only then may a caller hear more than "invalid credentials".
        password_confirmed: bool,
    },
    /// Any other result (busy, unwilling, ...): not an answer about the account.
    Failed { rc: u32 },
}

/// The `data XXX` sub-code of an Active Directory bind error, e.g.
/// `80090308: LdapErr: DSID-0C09042F, comment: AcceptSecurityContext error, data 775, v2580`.
pub fn ad_sub_code(text: &str) -> Option<u32> {
    let at = text.find("data ")?;
    let code: String = text[at + 5..].chars().take_while(char::is_ascii_hexdigit).collect();
    u32::from_str_radix(&code, 16).ok()
}

/// Active Directory's reason for a refused bind. The account-state
/// sub-codes come only for a correct password, except 775: a locked account
/// is refused before its password is checked (seen on Samba: 775 for a
/// wrong password too).
fn ad_refusal(code: u32) -> Option<(Refusal, bool)> {
    Some(match code {
        0x52e | 0x525 => (Refusal::InvalidCredentials, false),
        0x530 | 0x531 => (Refusal::LogonRestricted, true),
        0x532 => (Refusal::PasswordExpired, true),
        0x533 => (Refusal::AccountDisabled, true),
        0x701 => (Refusal::AccountExpired, true),
        0x773 => (Refusal::PasswordMustChange, true),
        0x775 => (Refusal::AccountLocked, false),
        _ => return None,
    })
}

/// Reads a bind's result code, diagnostic message and controls.
pub fn verdict(rc: u32, text: &str, controls: &[ldap3::controls::Control]) -> Verdict {
    let policy = ppolicy::find(controls);
    let (expires_in, grace_logins_remaining) = match policy.and_then(|p| p.warning) {
        Some(Warning::TimeBeforeExpiration(s)) => (Some(s), None),
        Some(Warning::GraceAuthNsRemaining(n)) => (None, Some(n)),
        None => (None, None),
    };
    let policy_error = policy.and_then(|p| p.error);
    match rc {
        0 => Verdict::Accepted {
            expires_in,
            grace_logins_remaining,
            must_change: policy_error == Some(PolicyError::ChangeAfterReset),
        },
        49 => {
            if let Some((refusal, password_confirmed)) = ad_sub_code(text).and_then(ad_refusal) {
                return Verdict::Refused { refusal, password_confirmed };
            }
            match policy_error {
                // ppolicy refuses an expired password only after checking it.
                Some(PolicyError::PasswordExpired) => {
                    Verdict::Refused { refusal: Refusal::PasswordExpired, password_confirmed: true }
                }
                // Sent whether or not the password was right.
                Some(PolicyError::AccountLocked) => {
                    Verdict::Refused { refusal: Refusal::AccountLocked, password_confirmed: false }
                }
                _ => Verdict::Refused { refusal: Refusal::InvalidCredentials, password_confirmed: false },
            }
        }
        // 389-DS answers a locked account with constraintViolation (19)
        // and the policy control; an inactivated one with unwillingToPerform.
        19 if policy_error == Some(PolicyError::AccountLocked) => {
            Verdict::Refused { refusal: Refusal::AccountLocked, password_confirmed: false }
        }
        other => Verdict::Failed { rc: other },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ldap3::controls::{Control, RawControl};

    fn policy(value: &[u8]) -> Vec<Control> {
        vec![Control(None, RawControl { ctype: ppolicy::OID.into(), crit: false, val: Some(value.to_vec()) })]
    }

    #[test]
    fn reads_active_directory_sub_codes() {
        let ad = |code: &str| {
            verdict(
                49,
                &format!(
                    "80090308: LdapErr: DSID-0C09042F, comment: AcceptSecurityContext error, data {code}, v2580\0"
                ),
                &[],
            )
        };
        assert_eq!(ad("52e"), Verdict::Refused { refusal: Refusal::InvalidCredentials, password_confirmed: false });
        assert_eq!(ad("525"), Verdict::Refused { refusal: Refusal::InvalidCredentials, password_confirmed: false });
        assert_eq!(ad("775"), Verdict::Refused { refusal: Refusal::AccountLocked, password_confirmed: false });
        assert_eq!(ad("532"), Verdict::Refused { refusal: Refusal::PasswordExpired, password_confirmed: true });
        assert_eq!(ad("773"), Verdict::Refused { refusal: Refusal::PasswordMustChange, password_confirmed: true });
        assert_eq!(ad("533"), Verdict::Refused { refusal: Refusal::AccountDisabled, password_confirmed: true });
        assert_eq!(ad("701"), Verdict::Refused { refusal: Refusal::AccountExpired, password_confirmed: true });
        assert_eq!(ad("530"), Verdict::Refused { refusal: Refusal::LogonRestricted, password_confirmed: true });
        // Unknown sub-codes and plain messages say nothing more.
        assert_eq!(ad("999"), Verdict::Refused { refusal: Refusal::InvalidCredentials, password_confirmed: false });
        assert_eq!(ad_sub_code("invalid credentials"), None);
    }

    #[test]
    fn reads_the_password_policy_control() {
        assert_eq!(
            verdict(0, "", &policy(&[0x30, 0x06, 0xa0, 0x04, 0x80, 0x02, 0x0e, 0x10])),
            Verdict::Accepted { expires_in: Some(3600), grace_logins_remaining: None, must_change: false }
        );
        assert_eq!(
            verdict(0, "", &policy(&[0x30, 0x05, 0xa0, 0x03, 0x81, 0x01, 0x02])),
            Verdict::Accepted { expires_in: None, grace_logins_remaining: Some(2), must_change: false }
        );
        assert_eq!(
            verdict(0, "", &policy(&[0x30, 0x03, 0x81, 0x01, 0x02])),
            Verdict::Accepted { expires_in: None, grace_logins_remaining: None, must_change: true }
        );
        assert_eq!(
            verdict(49, "", &policy(&[0x30, 0x03, 0x81, 0x01, 0x00])),
            Verdict::Refused { refusal: Refusal::PasswordExpired, password_confirmed: true }
        );
        assert_eq!(
            verdict(49, "", &policy(&[0x30, 0x03, 0x81, 0x01, 0x01])),
            Verdict::Refused { refusal: Refusal::AccountLocked, password_confirmed: false }
        );
        // A malformed control is ignored, not trusted.
        assert_eq!(
            verdict(49, "", &policy(&[0x30, 0x03, 0x81])),
            Verdict::Refused { refusal: Refusal::InvalidCredentials, password_confirmed: false }
        );
        assert_eq!(
            verdict(0, "", &[]),
            Verdict::Accepted { expires_in: None, grace_logins_remaining: None, must_change: false }
        );
        assert_eq!(verdict(51, "busy", &[]), Verdict::Failed { rc: 51 });
    }
}
