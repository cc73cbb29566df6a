//! The wall clock as dirbridge records it: RFC 3339 seconds in UTC.

pub fn now_rfc3339() -> String {
    rfc3339_at(unix_now())
}

/// A Unix time in RFC 3339 (empty when out of range).
pub fn rfc3339_at(unix_seconds: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(unix_seconds)
        .ok()
        .and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok())
        .unwrap_or_default()
}

/// The Unix time of an RFC 3339 text, if it is one.
pub fn parse_rfc3339(text: &str) -> Option<i64> {
    time::OffsetDateTime::parse(text.trim(), &time::format_description::well_known::Rfc3339)
        .ok()
        .map(|t| t.unix_timestamp())
}

pub fn unix_now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

#[cfg(test)]
mod tests {
    #[test]
    fn formats_unix_times() {
        assert_eq!(super::rfc3339_at(0), "1970-01-01T00:00:00Z");
        assert_eq!(super::rfc3339_at(1_780_000_000), "2026-05-28T20:26:40Z");
    }
}
