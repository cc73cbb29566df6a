//! Cron expressions in the three forms admins paste: 5 fields (minute hour
//! day-of-month month day-of-week), 6 fields (seconds first) and Quartz's 7
//! fields (seconds first, year last, `?` for "no specific day").

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cron {
    pub seconds: u64,  // bits 0..59
    pub minutes: u64,  // bits 0..59
    pub hours: u64,    // bits 0..23
    pub days: u64,     // bits 1..31
    pub months: u64,   // bits 1..12
    pub weekdays: u64, // bits 0..6, Sunday = 0
    pub years: Option<(u32, u32)>,
    /// True when day-of-month was `*`/`?` (cron then ORs/ANDs days as Vixie cron does).
    pub any_day: bool,
    pub any_weekday: bool,
}

const MONTHS: [&str; 12] = ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"];
const DAYS: [&str; 7] = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];

impl Cron {
    pub fn parse(expr: &str) -> Result<Cron, String> {
        let fields: Vec<&str> = expr.split_whitespace().collect();
        let (sec, rest) = match fields.len() {
            5 => ("0", &fields[..]),
            6 | 7 => (fields[0], &fields[1..]),
            n => return Err(format!("expected 5, 6 or 7 fields, found {n}")),
        };
        let quartz = fields.len() >= 6;
        let (min, hour, dom, mon, dow) = (rest[0], rest[1], rest[2], rest[3], rest[4]);
        if dom == "?" && dow == "?" {
            return Err("only one of day-of-month and day-of-week may be '?'".into());
        }
        let years = match rest.get(5) {
            None | Some(&"*") => None,
            Some(y) => Some(parse_years(y)?),
        };
        let weekdays = if dow == "?" {
            0x7f
        } else {
            // Quartz numbers days 1-7 from Sunday; Unix cron 0-7 with 0 and 7 Sunday.
            let bits = field(dow, "day-of-week", if quartz { 1 } else { 0 }, 7, &DAYS, if quartz { 1 } else { 0 })?;
            let mut w = 0u64;
            for d in 0..=7 {
                if bits & (1 << d) != 0 {
                    let day = if quartz { (d + 6) % 7 } else { d % 7 };
                    w |= 1 << day;
                }
            }
            w
        };
        Ok(Cron {
            seconds: field(sec, "second", 0, 59, &[], 0)?,
            minutes: field(min, "minute", 0, 59, &[], 0)?,
            hours: field(hour, "hour", 0, 23, &[], 0)?,
            days: if dom == "?" { all_bits(1, 31) } else { field(dom, "day-of-month", 1, 31, &[], 0)? },
            months: field(mon, "month", 1, 12, &MONTHS, 1)?,
            weekdays,
            years,
            any_day: dom == "*" || dom == "?",
            any_weekday: dow == "*" || dow == "?",
        })
    }

    fn day_matches(&self, day: u32, weekday: u32) -> bool {
        let d = self.days & (1 << day) != 0;
        let w = self.weekdays & (1 << weekday) != 0;
        match (self.any_day, self.any_weekday) {
            (true, true) => true,
            (true, false) => w,
            (false, true) => d,
            (false, false) => d || w,
        }
    }

    /// The first time strictly after `after` (UTC, unix seconds) that matches,
    /// searched up to five years ahead.
    pub fn next_after(&self, after: i64) -> Option<i64> {
        let mut t = after + 1;
        let limit = after + 5 * 366 * 86_400;
        while t <= limit {
            let (year, month, day, weekday) = civil(t.div_euclid(86_400));
            let secs = t.rem_euclid(86_400);
            let day_start = t - secs;
            if self.years.is_some_and(|(a, b)| year < a || year > b)
                || self.months & (1 << month) == 0
                || !self.day_matches(day, weekday)
            {
                t = day_start + 86_400;
                continue;
            }
            let (h, m, s) = ((secs / 3600) as u32, ((secs / 60) % 60) as u32, (secs % 60) as u32);
            if self.hours & (1 << h) == 0 {
                t = day_start + (h as i64 + 1) * 3600;
                continue;
            }
            if self.minutes & (1 << m) == 0 {
                t = day_start + h as i64 * 3600 + (m as i64 + 1) * 60;
                continue;
            }
            if self.seconds & (1 << s) == 0 {
                t += 1;
                continue;
            }
            return Some(t);
        }
        None
    }
}

fn all_bits(lo: u32, hi: u32) -> u64 {
    (lo..=hi).fold(0, |acc, b| acc | (1 << b))
}

fn value(s: &str, what: &str, lo: u32, hi: u32, names: &[&str], name_base: u32) -> Result<u32, String> {
    if let Some(i) = names.iter().position(|n| n.eq_ignore_ascii_case(s)) {
        return Ok(i as u32 + name_base);
    }
    let v: u32 = s.parse().map_err(|_| format!("'{s}' is not a valid {what}"))?;
    if v < lo || v > hi {
        return Err(format!("{what} {v} is out of range {lo}-{hi}"));
    }
    Ok(v)
}

fn field(spec: &str, what: &str, lo: u32, hi: u32, names: &[&str], name_base: u32) -> Result<u64, String> {
    if spec == "?" {
        return Err(format!("'?' is only allowed for day-of-month or day-of-week, not {what}"));
    }
    let mut bits = 0u64;
    for part in spec.split(',') {
        let (range, step) = match part.split_once('/') {
            Some((r, s)) => {
                let step: u32 = s.parse().map_err(|_| format!("'{s}' is not a valid step in the {what} field"))?;
                if step == 0 {
                    return Err(format!("a step of 0 in the {what} field"));
                }
                (r, step)
            }
            None => (part, 1),
        };
        let (a, b) = if range == "*" {
            (lo, hi)
        } else if let Some((a, b)) = range.split_once('-') {
            (value(a, what, lo, hi, names, name_base)?, value(b, what, lo, hi, names, name_base)?)
        } else {
            let a = value(range, what, lo, hi, names, name_base)?;
            (a, if step > 1 { hi } else { a })
        };
        if a > b {
            return Err(format!("range {a}-{b} in the {what} field runs backwards"));
        }
        let mut v = a;
        while v <= b {
            bits |= 1 << v;
            v += step;
        }
    }
    Ok(bits)
}

fn parse_years(spec: &str) -> Result<(u32, u32), String> {
    let parse = |s: &str| {
        s.parse::<u32>().ok().filter(|y| (1970..=2199).contains(y)).ok_or(format!("'{s}' is not a valid year"))
    };
    match spec.split_once('-') {
        Some((a, b)) => Ok((parse(a)?, parse(b)?)),
        None => {
            let y = parse(spec)?;
            Ok((y, y))
        }
    }
}

/// (year, month 1-12, day 1-31, weekday 0-6 from Sunday) of a day number since 1970-01-01.
fn civil(days: i64) -> (u32, u32, u32, u32) {
    // Howard Hinnant's days_from_civil inverse.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + if m <= 2 { 1 } else { 0 };
    let weekday = (days + 4).rem_euclid(7); // 1970-01-01 was a Thursday
    (y as u32, m as u32, d as u32, weekday as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    // 2026-11-23T14:00:00Z, a Monday.
    const NOW: i64 = 1_795_442_400;

    #[test]
    fn civil_dates_are_right() {
        assert_eq!(civil(0), (1970, 1, 1, 4));
        assert_eq!(civil(NOW / 86_400), (2026, 11, 23, 1));
    }

    #[test]
    fn parses_five_six_and_quartz_forms() {
        let five = Cron::parse("*/15 9-17 * * MON-FRI").expect("valid");
        assert_eq!(five.seconds, 1);
        assert_eq!(five.minutes, (1 << 0) | (1 << 15) | (1 << 30) | (1 << 45));
        assert_eq!(five.weekdays, 0b0111110);

        let quartz = Cron::parse("0 45 1 * * ?").expect("valid");
        assert_eq!(quartz.hours, 1 << 1);
        assert_eq!(quartz.next_after(NOW), Some(NOW + 86_400 - 14 * 3600 + 3600 + 45 * 60));

        let seven = Cron::parse("0 0 12 ? * MON *").expect("valid");
        assert_eq!(seven.weekdays, 1 << 1);
        let quartz_numeric = Cron::parse("0 0 12 ? * 2 2026-2030").expect("valid");
        assert_eq!(quartz_numeric.weekdays, 1 << 1, "Quartz 2 is Monday");
        assert_eq!(Cron::parse("0 0 * * 7").expect("valid").weekdays, 1, "Unix 7 is Sunday");
    }

    #[test]
    fn computes_next_runs() {
        let every_5_min = Cron::parse("*/5 * * * *").expect("valid");
        assert_eq!(every_5_min.next_after(NOW), Some(NOW + 300));
        let monthly = Cron::parse("0 3 1 * *").expect("valid");
        // 2026-12-01T03:00:00Z
        assert_eq!(monthly.next_after(NOW), Some(1_796_094_000));
        let yearly_past = Cron::parse("0 0 0 1 1 ? 2020").expect("valid");
        assert_eq!(yearly_past.next_after(NOW), None);
    }

    #[test]
    fn rejects_bad_expressions_with_reasons() {
        for (bad, says) in [
            ("* * *", "5, 6 or 7"),
            ("61 * * * *", "out of range"),
            ("* * * 13 *", "out of range"),
            ("*/0 * * * *", "step of 0"),
            ("0 0 ? * ?", "only one"),
            ("? * * * *", "only allowed"),
            ("5-1 * * * *", "backwards"),
            ("0 0 12 ? * MON 1800", "year"),
            ("x * * * *", "not a valid minute"),
        ] {
            let err = Cron::parse(bad).expect_err(bad);
            assert!(err.contains(says), "{bad}: {err}");
        }
    }
}
