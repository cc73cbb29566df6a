//! The admin password policy: long enough, not one of the passwords every
//! guessing list starts with, not the username.

/// Fewer characters than this are refused.
pub const MIN_LENGTH: usize = 12;

/// Common passwords of at least `MIN_LENGTH` characters (shorter ones fail
/// the length rule already), compared case-insensitively.
const COMMON: &[&str] = &[
    "123456789012",
    "1234567890123",
    "12345678901234",
    "123123123123",
    "111111111111",
    "000000000000",
    "qwertyuiopas",
    "qwerty123456",
    "qwertyuiop123",
    "1q2w3e4r5t6y",
    "1qaz2wsx3edc",
    "q1w2e3r4t5y6",
    "password1234",
    "password12345",
    "passwordpassword",
    "password123456",
    "password123!",
    "p@ssw0rd1234",
    "administrator",
    "administrator1",
    "admin1234567",
    "adminadmin123",
    "changeme1234",
    "changeme123!",
    "iloveyou1234",
    "letmein12345",
    "welcome12345",
    "welcome123456",
    "trustno11234",
    "sunshine1234",
    "football1234",
    "baseball1234",
    "princess1234",
    "superman1234",
    "starwars1234",
    "dragon123456",
    "abcdefghijkl",
    "abc123abc123",
    "aaaaaaaaaaaa",
    "zaq12wsxcde3",
    "asdfghjkl123",
    "monkey123456",
];

/// Why a password is refused, or Ok.
pub fn check_password(username: &str, password: &str) -> Result<(), String> {
    let chars = password.chars().count();
    if chars < MIN_LENGTH {
        return Err(format!("must be at least {MIN_LENGTH} characters"));
    }
    if chars > 1024 {
        return Err("must be at most 1024 characters".into());
    }
    let lower = password.to_lowercase();
    if COMMON.contains(&lower.as_str()) {
        return Err("is one of the most common passwords".into());
    }
    let mut distinct: Vec<char> = lower.chars().collect();
    distinct.sort_unstable();
    distinct.dedup();
    if distinct.len() < 4 {
        return Err("needs more than three different characters".into());
    }
    if !username.is_empty() && lower.contains(&username.to_lowercase()) {
        return Err("must not contain the username".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_common_repetitive_and_username_passwords_are_refused() {
        assert!(check_password("ann", "short").is_err());
        assert!(check_password("ann", "Password1234").is_err());
        assert!(check_password("ann", "abababababab").is_err());
        assert!(check_password("annabel", "my-Annabel-pass").is_err());
        assert!(check_password("ann", "correct horse battery").is_ok());
    }
}
