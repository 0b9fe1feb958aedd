//! The string formats of DTDL's primitive schemas: `date`, `dateTime`, `time` (RFC 3339),
//! `duration` (ISO 8601), and v3's `uuid`, `bytes` (base64) and `decimal`.
//!
//! These are small hand-written checks rather than a date library: the model layer is pure and
//! dependency-light, and only the *syntax* (plus calendar validity, e.g. no 30 February) matters
//! here; nothing is converted. Each check returns the reason a string does not fit, which
//! [`super::Schema::validate`] puts after "found …" in its message.

type Check = Result<(), String>;

/// RFC 3339 `full-date`: `YYYY-MM-DD`, a real calendar day.
pub fn check_date(s: &str) -> Check {
    let b = s.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return Err("the form is YYYY-MM-DD".into());
    }
    let year = digits(&b[0..4]).ok_or("the year must be 4 digits")?;
    let month = digits(&b[5..7]).ok_or("the month must be 2 digits")?;
    let day = digits(&b[8..10]).ok_or("the day must be 2 digits")?;
    if !(1..=12).contains(&month) {
        return Err(format!("month {month} is out of range"));
    }
    let last = days_in_month(year, month);
    if day < 1 || day > last {
        return Err(format!("day {day} is out of range for {year:04}-{month:02}"));
    }
    Ok(())
}

/// RFC 3339 `partial-time` (`HH:MM:SS[.frac]`), optionally followed by a `time-offset`
/// (`Z` or `±HH:MM`).
pub fn check_time(s: &str) -> Check {
    check_time_offset(s).map(|_| ())
}

/// RFC 3339 `date-time`: `full-date "T" partial-time time-offset`; the offset is required.
pub fn check_date_time(s: &str) -> Check {
    let Some((date, time)) = s.split_once(['T', 't']) else {
        return Err("the date and the time must be separated by 'T'".into());
    };
    check_date(date)?;
    if !check_time_offset(time)? {
        return Err("a UTC offset ('Z' or like '+01:00') must follow the time".into());
    }
    Ok(())
}

/// Checks a time with an optional offset; says whether the offset was there.
fn check_time_offset(s: &str) -> Result<bool, String> {
    let b = s.as_bytes();
    if b.len() < 8 || b[2] != b':' || b[5] != b':' {
        return Err("the time's form is HH:MM:SS".into());
    }
    let hour = digits(&b[0..2]).ok_or("the hour must be 2 digits")?;
    let minute = digits(&b[3..5]).ok_or("the minutes must be 2 digits")?;
    let second = digits(&b[6..8]).ok_or("the seconds must be 2 digits")?;
    if hour > 23 || minute > 59 || second > 60 {
        return Err(format!("{hour:02}:{minute:02}:{second:02} is not a time of day"));
    }
    let mut rest = &s[8..];
    if let Some(frac) = rest.strip_prefix('.') {
        let n = frac.bytes().take_while(u8::is_ascii_digit).count();
        if n == 0 {
            return Err("a '.' in the time must be followed by digits".into());
        }
        rest = &frac[n..];
    }
    match rest {
        "" => Ok(false),
        "Z" | "z" => Ok(true),
        _ => {
            let o = rest.as_bytes();
            let ok = o.len() == 6
                && (o[0] == b'+' || o[0] == b'-')
                && o[3] == b':'
                && digits(&o[1..3]).is_some_and(|h| h <= 23)
                && digits(&o[4..6]).is_some_and(|m| m <= 59);
            if ok {
                Ok(true)
            } else {
                Err(format!("'{rest}' is not a UTC offset ('Z' or like '+01:00')"))
            }
        }
    }
}

/// ISO 8601 duration: `[-]P[nY][nM][nW][nD][T[nH][nM][nS]]` with at least one component; only the
/// last component may have a fraction (`PT1.5S`).
pub fn check_duration(s: &str) -> Check {
    let unsigned = s.strip_prefix('-').unwrap_or(s);
    let Some(body) = unsigned.strip_prefix('P') else {
        return Err("a duration starts with 'P'".into());
    };
    let (date, time) = match body.split_once('T') {
        Some((d, t)) => (d, Some(t)),
        None => (body, None),
    };
    let mut state = DurationState::default();
    components(date, &['Y', 'M', 'W', 'D'], &mut state)?;
    if let Some(time) = time {
        if time.is_empty() {
            return Err("'T' must be followed by hours (H), minutes (M) or seconds (S)".into());
        }
        components(time, &['H', 'M', 'S'], &mut state)?;
    }
    if state.count == 0 {
        return Err("it has no components (e.g. P1D, PT5M, P1DT2H)".into());
    }
    Ok(())
}

#[derive(Default)]
struct DurationState {
    count: usize,
    fraction_seen: bool,
}

fn components(mut s: &str, designators: &[char], state: &mut DurationState) -> Check {
    let mut next = 0; // designators before this index were used (or skipped)
    while !s.is_empty() {
        if state.fraction_seen {
            return Err("only the last component may have a fraction".into());
        }
        let n = s.bytes().take_while(u8::is_ascii_digit).count();
        if n == 0 {
            let c = s.chars().next().unwrap_or('?');
            return Err(format!("expected a number before '{c}'"));
        }
        s = &s[n..];
        if let Some(frac) = s.strip_prefix(['.', ',']) {
            let m = frac.bytes().take_while(u8::is_ascii_digit).count();
            if m == 0 {
                return Err("a decimal point must be followed by digits".into());
            }
            state.fraction_seen = true;
            s = &frac[m..];
        }
        let Some(d) = s.chars().next() else {
            return Err("a number must be followed by a designator (Y, M, W, D, H, M or S)".into());
        };
        match designators[next..].iter().position(|x| *x == d) {
            Some(i) => next += i + 1,
            None => {
                return Err(if designators.contains(&d) {
                    format!("'{d}' is repeated or out of order")
                } else {
                    format!("'{d}' is not a designator here")
                });
            }
        }
        state.count += 1;
        s = &s[d.len_utf8()..];
    }
    Ok(())
}

/// A UUID in its 8-4-4-4-12 hexadecimal form.
pub fn check_uuid(s: &str) -> Check {
    let b = s.as_bytes();
    let ok = b.len() == 36
        && b.iter().enumerate().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => *c == b'-',
            _ => c.is_ascii_hexdigit(),
        });
    if ok { Ok(()) } else { Err("the form is 8-4-4-4-12 hexadecimal digits".into()) }
}

/// Standard base64 (RFC 4648 alphabet, padded to a multiple of 4).
pub fn check_base64(s: &str) -> Check {
    let body = s.trim_end_matches('=');
    let padding = s.len() - body.len();
    if !s.len().is_multiple_of(4) || padding > 2 {
        return Err("base64 text is padded with '=' to a multiple of 4 characters".into());
    }
    if let Some(c) = body.chars().find(|c| !(c.is_ascii_alphanumeric() || *c == '+' || *c == '/')) {
        return Err(format!("'{c}' is not a base64 character"));
    }
    Ok(())
}

/// A decimal number written as a string: `[+-]digits[.digits]`.
pub fn check_decimal(s: &str) -> Check {
    let unsigned = s.strip_prefix(['+', '-']).unwrap_or(s);
    let (int, frac) = match unsigned.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (unsigned, None),
    };
    let all_digits = |p: &str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit());
    if all_digits(int) && frac.is_none_or(all_digits) {
        Ok(())
    } else {
        Err("the form is digits with an optional sign and decimal point, like \"-12.50\"".into())
    }
}

fn digits(b: &[u8]) -> Option<u32> {
    if b.iter().all(u8::is_ascii_digit) {
        Some(b.iter().fold(0, |n, d| n * 10 + u32::from(d - b'0')))
    } else {
        None
    }
}

fn days_in_month(year: u32, month: u32) -> u32 {
    match month {
        4 | 6 | 9 | 11 => 30,
        2 if year.is_multiple_of(4) && (!year.is_multiple_of(100) || year.is_multiple_of(400)) => {
            29
        }
        2 => 28,
        _ => 31,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        for ok in ["2024-01-31", "2024-02-29", "2000-02-29", "0001-12-31"] {
            assert!(check_date(ok).is_ok(), "{ok}");
        }
        for bad in [
            "2023-02-29",
            "1900-02-29",
            "2024-13-01",
            "2024-00-10",
            "2024-04-31",
            "2024-1-1",
            "24-01-01",
            "2024/01/01",
            "2024-01-01Z",
        ] {
            assert!(check_date(bad).is_err(), "{bad}");
        }
        assert_eq!(check_date("2024-13-01").unwrap_err(), "month 13 is out of range");
    }

    #[test]
    fn times() {
        for ok in [
            "00:00:00",
            "23:59:60",
            "12:30:00.5",
            "12:30:00.1234567Z",
            "12:30:00+01:00",
            "12:30:00-08:00",
        ] {
            assert!(check_time(ok).is_ok(), "{ok}");
        }
        for bad in
            ["24:00:00", "12:60:00", "12:30", "12:30:00.", "12:30:00+1:00", "12:30:00 Z", "1230:00"]
        {
            assert!(check_time(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn date_times() {
        for ok in [
            "2022-02-28T00:30:00.1234567Z",
            "2022-02-28T00:30:00Z",
            "2022-02-28t00:30:00z",
            "2022-02-28T00:30:00+05:30",
        ] {
            assert!(check_date_time(ok).is_ok(), "{ok}");
        }
        for bad in [
            "2022-02-28 00:30:00Z",
            "2022-02-28T00:30:00",
            "2022-02-30T00:30:00Z",
            "2022-02-28T25:30:00Z",
            "2022-02-28",
            "",
        ] {
            assert!(check_date_time(bad).is_err(), "{bad}");
        }
        assert!(check_date_time("2022-02-28T00:30:00").unwrap_err().contains("UTC offset"));
    }

    #[test]
    fn durations() {
        for ok in [
            "P1D",
            "PT5M",
            "P1DT2H",
            "P1Y2M3DT4H5M6S",
            "P2W",
            "PT1.5S",
            "PT0,5H",
            "-P1D",
            "P0D",
            "PT36H",
        ] {
            assert!(check_duration(ok).is_ok(), "{ok}");
        }
        for bad in [
            "P", "PT", "1D", "P1H", "PT1D", "P1M1Y", "P1DD", "PT1.5H2M", "P1", "PxD", "P1DT",
            "pt5m",
        ] {
            assert!(check_duration(bad).is_err(), "{bad}");
        }
        assert!(check_duration("P1M1Y").unwrap_err().contains("out of order"));
    }

    #[test]
    fn uuids_base64_decimals() {
        assert!(check_uuid("123e4567-e89b-12d3-a456-426614174000").is_ok());
        assert!(check_uuid("123E4567-E89B-12D3-A456-426614174000").is_ok());
        assert!(check_uuid("123e4567-e89b-12d3-a456-42661417400g").is_err());
        assert!(check_uuid("{123e4567-e89b-12d3-a456-426614174000}").is_err());
        for ok in ["", "aGVsbG8=", "aGVsbA==", "aGVs", "a+/9"] {
            assert!(check_base64(ok).is_ok(), "{ok}");
        }
        for bad in ["aGVsbG8", "aGV=bG8=", "a===", "aGVs!A=="] {
            assert!(check_base64(bad).is_err(), "{bad}");
        }
        for ok in ["1", "-1.50", "+0.0", "123456789012345678901234567890.5"] {
            assert!(check_decimal(ok).is_ok(), "{ok}");
        }
        for bad in ["", "-", "1.", ".5", "1e5", "1,5", "abc"] {
            assert!(check_decimal(bad).is_err(), "{bad}");
        }
    }
}
