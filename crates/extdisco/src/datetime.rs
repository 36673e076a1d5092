//! The XEP-0082 DateTime profile (`CCYY-MM-DDThh:mm:ss[.sss]TZD`), read and written by hand:
//! the one date format XEP-0215 uses (the `expires` attribute, XEP-0215 §2).

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The time zone designator of a [`DateTime`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Tzd {
    /// `Z`: UTC, as XEP-0215 §2 requires ("MUST be expressed in UTC").
    Z,
    /// `+hh:mm` or `-hh:mm`, in minutes east of UTC (`+00:00` is UTC too).
    Offset(i16),
    /// No designator: XEP-0082 §3.2 requires one; only the lenient reading accepts its absence,
    /// and then reads the time as UTC.
    Absent,
}

/// A date and time of the XEP-0082 DateTime profile (XEP-0082 §3.2), kept as written so that it
/// writes back the same (the fraction's digits and the designator are kept).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DateTime {
    /// Four-digit year (`CCYY`).
    pub year: u16,
    /// 1 to 12.
    pub month: u8,
    /// 1 to the month's length.
    pub day: u8,
    /// 0 to 23.
    pub hour: u8,
    /// 0 to 59.
    pub minute: u8,
    /// 0 to 59.
    pub second: u8,
    /// The digits of the fraction of a second, as written (at most 9), without the dot.
    pub fraction: Option<String>,
    /// The time zone designator.
    pub tzd: Tzd,
}

/// Why a date-time was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DateTimeError {
    /// Not of the form `CCYY-MM-DDThh:mm:ss[.sss]TZD`, or a field out of range.
    Syntax,
    /// No time zone designator (XEP-0082 §3.2).
    NoTzd,
}

fn digits(s: &[u8]) -> Option<u32> {
    if s.is_empty() || !s.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(s.iter().fold(0, |n, d| n * 10 + u32::from(d - b'0')))
}

fn two(s: &[u8], at: usize) -> Option<u8> {
    digits(s.get(at..at + 2)?).and_then(|n| u8::try_from(n).ok())
}

fn is_leap(year: u16) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

fn month_length(year: u16, month: u8) -> u8 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days from 1970-01-01 to a civil date (H. Hinnant's `days_from_civil`).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The civil date of a day count from 1970-01-01 (H. Hinnant's `civil_from_days`).
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

impl DateTime {
    /// Reads `CCYY-MM-DDThh:mm:ss[.sss]TZD` (XEP-0082 §3.2). Surrounding whitespace is not
    /// allowed here; the attribute reader trims it (xs:dateTime collapses whitespace).
    pub fn parse(s: &str) -> Result<DateTime, DateTimeError> {
        let b = s.as_bytes();
        let syntax = DateTimeError::Syntax;
        if b.len() < 19 || b.len() > 40 {
            return Err(syntax);
        }
        if b[4] != b'-' || b[7] != b'-' || b[10] != b'T' || b[13] != b':' || b[16] != b':' {
            return Err(syntax);
        }
        let year = digits(&b[0..4])
            .and_then(|y| u16::try_from(y).ok())
            .ok_or(syntax)?;
        let month = two(b, 5).ok_or(syntax)?;
        let day = two(b, 8).ok_or(syntax)?;
        let hour = two(b, 11).ok_or(syntax)?;
        let minute = two(b, 14).ok_or(syntax)?;
        let second = two(b, 17).ok_or(syntax)?;
        if !(1..=12).contains(&month)
            || day == 0
            || day > month_length(year, month)
            || hour > 23
            || minute > 59
            || second > 59
        {
            return Err(syntax);
        }
        let mut rest = &s[19..];
        let mut fraction = None;
        if let Some(r) = rest.strip_prefix('.') {
            let n = r.bytes().take_while(u8::is_ascii_digit).count();
            if n == 0 || n > 9 {
                return Err(syntax);
            }
            fraction = Some(r[..n].to_owned());
            rest = &r[n..];
        }
        let tzd = match rest.as_bytes() {
            [] => Tzd::Absent,
            [b'Z'] => Tzd::Z,
            [sign @ (b'+' | b'-'), _, _, b':', _, _] => {
                let (h, m) = (two(rest.as_bytes(), 1), two(rest.as_bytes(), 4));
                match (h, m) {
                    (Some(h), Some(m)) if h <= 14 && m <= 59 => {
                        let minutes = i16::from(h) * 60 + i16::from(m);
                        Tzd::Offset(if *sign == b'-' { -minutes } else { minutes })
                    }
                    _ => return Err(syntax),
                }
            }
            _ => return Err(syntax),
        };
        let dt = DateTime {
            year,
            month,
            day,
            hour,
            minute,
            second,
            fraction,
            tzd,
        };
        if tzd == Tzd::Absent {
            return Err(DateTimeError::NoTzd);
        }
        Ok(dt)
    }

    /// Like [`DateTime::parse`], but a missing designator is accepted (read as UTC); the
    /// second value says whether it was missing.
    pub fn parse_lenient(s: &str) -> Result<(DateTime, bool), DateTimeError> {
        match DateTime::parse(s) {
            Ok(dt) => Ok((dt, false)),
            Err(DateTimeError::NoTzd) => {
                let mut z = DateTime::parse(&format!("{s}Z"))?;
                z.tzd = Tzd::Absent;
                Ok((z, true))
            }
            Err(e) => Err(e),
        }
    }

    /// Whether the time is written in UTC (`Z` or `+00:00`/`-00:00`).
    pub fn is_utc(&self) -> bool {
        matches!(self.tzd, Tzd::Z | Tzd::Offset(0))
    }

    /// Seconds since 1970-01-01T00:00:00Z (the fraction dropped).
    pub fn unix_seconds(&self) -> i64 {
        let days = days_from_civil(
            i64::from(self.year),
            i64::from(self.month),
            i64::from(self.day),
        );
        let offset = match self.tzd {
            Tzd::Offset(m) => i64::from(m) * 60,
            Tzd::Z | Tzd::Absent => 0,
        };
        days * 86_400
            + i64::from(self.hour) * 3600
            + i64::from(self.minute) * 60
            + i64::from(self.second)
            - offset
    }

    /// The UTC date-time (`Z`, whole seconds) of a count of seconds since 1970-01-01, or `None`
    /// outside years 0000 to 9999.
    pub fn from_unix_seconds(secs: i64) -> Option<DateTime> {
        let days = secs.div_euclid(86_400);
        let rem = secs.rem_euclid(86_400);
        let (year, month, day) = civil_from_days(days);
        let year = u16::try_from(year).ok().filter(|y| *y <= 9999)?;
        let (month, day) = (u8::try_from(month).ok()?, u8::try_from(day).ok()?);
        Some(DateTime {
            year,
            month,
            day,
            hour: u8::try_from(rem / 3600).ok()?,
            minute: u8::try_from(rem % 3600 / 60).ok()?,
            second: u8::try_from(rem % 60).ok()?,
            fraction: None,
            tzd: Tzd::Z,
        })
    }

    /// The UTC date-time of a point in time given by the caller (whole seconds); `None` before
    /// 1970 or after 9999.
    pub fn from_system_time(t: SystemTime) -> Option<DateTime> {
        let secs = t.duration_since(UNIX_EPOCH).ok()?.as_secs();
        DateTime::from_unix_seconds(i64::try_from(secs).ok()?)
    }

    /// The point in time (the fraction dropped); `None` before 1970.
    pub fn to_system_time(&self) -> Option<SystemTime> {
        let secs = u64::try_from(self.unix_seconds()).ok()?;
        UNIX_EPOCH.checked_add(Duration::from_secs(secs))
    }
}

impl fmt::Display for DateTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
            self.year, self.month, self.day, self.hour, self.minute, self.second
        )?;
        if let Some(fr) = &self.fraction {
            write!(f, ".{fr}")?;
        }
        match self.tzd {
            Tzd::Z => f.write_str("Z"),
            Tzd::Absent => Ok(()),
            Tzd::Offset(m) => {
                let sign = if m < 0 { '-' } else { '+' };
                let a = m.unsigned_abs();
                write!(f, "{sign}{:02}:{:02}", a / 60, a % 60)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// XEP-0082 §3.2, the DateTime examples ("the date and time of the Apollo 11 landing").
    #[test]
    fn xep0082_datetime_examples() {
        for s in [
            "1969-07-21T02:56:15Z",
            "1969-07-20T21:56:15-05:00",
            "1969-07-21T02:56:15.123Z",
        ] {
            let dt = DateTime::parse(s).unwrap();
            assert_eq!(dt.to_string(), s);
            // All three name the same second: -14159025.
            assert_eq!(dt.unix_seconds(), -14_159_025, "{s}");
        }
        assert!(
            !DateTime::parse("1969-07-20T21:56:15-05:00")
                .unwrap()
                .is_utc()
        );
    }

    #[test]
    fn refusals() {
        for s in [
            "",
            "1969-07-21",
            "1969-07-21T02:56Z",
            "1969-13-21T02:56:15Z",
            "1969-02-29T02:56:15Z",
            "1969-07-21T24:00:00Z",
            "1969-07-21T02:56:15.Z",
            "1969-07-21T02:56:15+5:00",
            "1969-07-21T02:56:15 Z",
            "69-07-21T02:56:15Z",
            "1969-07-21T02:56:15.1234567890Z",
        ] {
            assert_eq!(DateTime::parse(s), Err(DateTimeError::Syntax), "{s}");
        }
        assert_eq!(
            DateTime::parse("1969-07-21T02:56:15"),
            Err(DateTimeError::NoTzd)
        );
        let (dt, absent) = DateTime::parse_lenient("1969-07-21T02:56:15").unwrap();
        assert!(absent);
        assert_eq!(dt.to_string(), "1969-07-21T02:56:15");
        assert_eq!(dt.unix_seconds(), -14_159_025);
        assert!(DateTime::parse("2000-02-29T00:00:00Z").is_ok());
    }

    #[test]
    fn unix_round_trip() {
        for secs in [0, 86_399, 951_782_400, 1_700_000_000, 4_102_444_800, -1] {
            let dt = DateTime::from_unix_seconds(secs).unwrap();
            assert_eq!(dt.unix_seconds(), secs);
            assert_eq!(DateTime::parse(&dt.to_string()).unwrap(), dt);
        }
        assert_eq!(
            DateTime::from_unix_seconds(1_700_000_000)
                .unwrap()
                .to_string(),
            "2023-11-14T22:13:20Z"
        );
    }
}
