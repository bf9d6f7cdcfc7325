//! Time functions: `formatdate` and `timeadd`, on RFC 3339 timestamps, as Terraform's.

use hcl::eval::FuncArgs;
use hcl::Value;

use super::args::{Args, FnResult};

/// A timestamp: seconds since the epoch in UTC, its nanoseconds, and the offset it was written
/// with (seconds east of UTC; `None` for `Z`).
struct Timestamp {
    seconds: i64,
    nanos: u32,
    offset: Option<i32>,
}

fn digits(s: &str, n: usize) -> Option<i64> {
    (s.len() == n && s.bytes().all(|b| b.is_ascii_digit()))
        .then(|| s.parse().ok())
        .flatten()
}

/// Days from 1970-01-01 to a civil date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (m + if m > 2 { -3 } else { 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// `YYYY-MM-DD`, a date that exists.
pub(super) fn is_date(s: &str) -> bool {
    let b = s.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return false;
    }
    match (
        digits(&s[0..4], 4),
        digits(&s[5..7], 2),
        digits(&s[8..10], 2),
    ) {
        (Some(y), Some(m), Some(d)) => (1..=12).contains(&m) && d >= 1 && d <= days_in_month(y, m),
        _ => false,
    }
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        2 if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

impl Timestamp {
    fn parse(s: &str) -> Result<Timestamp, String> {
        let fail = || {
            format!(
                "not a valid RFC 3339 timestamp: {s:?} (expected such as \"2024-01-02T15:04:05Z\")"
            )
        };
        let b = s.as_bytes();
        if b.len() < 20
            || b[4] != b'-'
            || b[7] != b'-'
            || !matches!(b[10], b'T' | b't')
            || b[13] != b':'
            || b[16] != b':'
        {
            return Err(fail());
        }
        let field = |from: usize, n: usize| digits(&s[from..from + n], n).ok_or_else(fail);
        let (y, mo, d) = (field(0, 4)?, field(5, 2)?, field(8, 2)?);
        let (h, mi, sec) = (field(11, 2)?, field(14, 2)?, field(17, 2)?);
        if !(1..=12).contains(&mo)
            || d < 1
            || d > days_in_month(y, mo)
            || h > 23
            || mi > 59
            || sec > 59
        {
            return Err(fail());
        }
        let mut rest = &s[19..];
        let mut nanos = 0u32;
        if let Some(frac) = rest.strip_prefix('.') {
            let n = frac.bytes().take_while(u8::is_ascii_digit).count();
            if n == 0 || n > 9 {
                return Err(fail());
            }
            nanos = frac[..n].parse::<u32>().map_err(|_| fail())? * 10u32.pow(9 - n as u32);
            rest = &frac[n..];
        }
        let offset = match rest {
            "Z" | "z" => None,
            o if o.len() == 6 && matches!(&o[..1], "+" | "-") && &o[3..4] == ":" => {
                let (oh, om) = (
                    digits(&o[1..3], 2).ok_or_else(fail)?,
                    digits(&o[4..6], 2).ok_or_else(fail)?,
                );
                if oh > 23 || om > 59 {
                    return Err(fail());
                }
                let sign = if &o[..1] == "-" { -1 } else { 1 };
                Some(sign * (oh * 3600 + om * 60) as i32)
            }
            _ => return Err(fail()),
        };
        let local = days_from_civil(y, mo, d) * 86_400 + h * 3600 + mi * 60 + sec;
        Ok(Timestamp {
            seconds: local - i64::from(offset.unwrap_or(0)),
            nanos,
            offset,
        })
    }

    /// The civil fields in the timestamp's own offset.
    fn local(&self) -> (i64, i64, i64, i64, i64, i64, i64) {
        let local = self.seconds + i64::from(self.offset.unwrap_or(0));
        let (y, m, d) = civil_from_days(local.div_euclid(86_400));
        let t = local.rem_euclid(86_400);
        let weekday = (local.div_euclid(86_400) + 4).rem_euclid(7); // 1970-01-01 was a Thursday
        (y, m, d, t / 3600, t % 3600 / 60, t % 60, weekday)
    }

    /// Go's RFC 3339 rendering (`time.RFC3339`: no fraction).
    fn rfc3339(&self) -> String {
        let (y, m, d, h, mi, s, _) = self.local();
        format!(
            "{y:04}-{m:02}-{d:02}T{h:02}:{mi:02}:{s:02}{}",
            self.zone(true)
        )
    }

    fn zone(&self, colon: bool) -> String {
        match self.offset {
            None if colon => "Z".into(),
            offset => {
                let o = offset.unwrap_or(0);
                let sign = if o < 0 { '-' } else { '+' };
                let (h, m) = (o.abs() / 3600, o.abs() % 3600 / 60);
                match colon {
                    true => format!("{sign}{h:02}:{m:02}"),
                    false => format!("{sign}{h:02}{m:02}"),
                }
            }
        }
    }
}

const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];
const DAYS: [&str; 7] = [
    "Sunday",
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
];

pub(super) fn formatdate(a: FuncArgs) -> FnResult {
    let (spec, ts) = (a.text(0)?, a.text(1)?);
    let t = Timestamp::parse(&ts)?;
    let (y, mo, d, h, mi, s, wd) = t.local();
    let chars: Vec<char> = spec.chars().collect();
    let mut out = String::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '\'' {
            // 'quoted literal', '' for a quote
            if chars.get(i + 1) == Some(&'\'') {
                out.push('\'');
                i += 2;
                continue;
            }
            // A quoted literal, in which '' is a quote.
            let mut j = i + 1;
            loop {
                match (chars.get(j), chars.get(j + 1)) {
                    (None, _) => return Err("a quoted literal in the format is not closed".into()),
                    (Some('\''), Some('\'')) => {
                        out.push('\'');
                        j += 2;
                    }
                    (Some('\''), _) => break,
                    (Some(&c), _) => {
                        out.push(c);
                        j += 1;
                    }
                }
            }
            i = j + 1;
            continue;
        }
        if !c.is_ascii_alphabetic() {
            out.push(c);
            i += 1;
            continue;
        }
        let n = chars[i..].iter().take_while(|&&x| x == c).count();
        let token: String = chars[i..i + n].iter().collect();
        let text = match token.as_str() {
            "YYYY" => format!("{y:04}"),
            "YY" => format!("{:02}", y.rem_euclid(100)),
            "MMMM" => MONTHS[mo as usize - 1].to_string(),
            "MMM" => MONTHS[mo as usize - 1][..3].to_string(),
            "MM" => format!("{mo:02}"),
            "M" => mo.to_string(),
            "DD" => format!("{d:02}"),
            "D" => d.to_string(),
            "EEEE" => DAYS[wd as usize].to_string(),
            "EEE" => DAYS[wd as usize][..3].to_string(),
            "hh" => format!("{h:02}"),
            "h" => h.to_string(),
            "HH" => format!("{:02}", (h + 11) % 12 + 1),
            "H" => ((h + 11) % 12 + 1).to_string(),
            "AA" => (if h < 12 { "AM" } else { "PM" }).to_string(),
            "aa" => (if h < 12 { "am" } else { "pm" }).to_string(),
            "mm" => format!("{mi:02}"),
            "m" => mi.to_string(),
            "ss" => format!("{s:02}"),
            "s" => s.to_string(),
            "ZZZZZ" => t.zone(true).replace('Z', "+00:00"),
            "ZZZZ" => t.zone(false),
            "ZZZ" if t.offset.is_none() => "UTC".to_string(),
            "ZZZ" => t.zone(false),
            "Z" if t.offset.is_none() => "Z".to_string(),
            "Z" => t.zone(true),
            _ => return Err(format!("invalid date format verb {token:?}")),
        };
        out.push_str(&text);
        i += n;
    }
    Ok(Value::from(out))
}

/// Go's `time.ParseDuration`: a sequence of decimal numbers with units (`1h30m`, `-1.5s`).
fn parse_duration(s: &str) -> Result<i128, String> {
    let fail =
        || format!("invalid duration {s:?}: expected such as \"1h30m\", \"-15s\" or \"250ms\"");
    let (negative, mut rest) = match s.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    if rest == "0" {
        return Ok(0);
    }
    if rest.is_empty() {
        return Err(fail());
    }
    let mut total: f64 = 0.0;
    while !rest.is_empty() {
        let n = rest
            .bytes()
            .take_while(|b| b.is_ascii_digit() || *b == b'.')
            .count();
        if n == 0 {
            return Err(fail());
        }
        let number: f64 = rest[..n].parse().map_err(|_| fail())?;
        rest = &rest[n..];
        let u = rest
            .bytes()
            .take_while(|b| !(b.is_ascii_digit() || *b == b'.'))
            .count();
        let unit = match &rest[..u] {
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return Err(fail()),
        };
        rest = &rest[u..];
        total += number * unit;
    }
    let nanos = total.round() as i128;
    Ok(if negative { -nanos } else { nanos })
}

pub(super) fn timeadd(a: FuncArgs) -> FnResult {
    let (ts, duration) = (a.text(0)?, a.text(1)?);
    let t = Timestamp::parse(&ts)?;
    let nanos =
        i128::from(t.seconds) * 1_000_000_000 + i128::from(t.nanos) + parse_duration(&duration)?;
    let seconds =
        i64::try_from(nanos.div_euclid(1_000_000_000)).map_err(|_| "the time is out of range")?;
    let out = Timestamp {
        seconds,
        nanos: nanos.rem_euclid(1_000_000_000) as u32,
        offset: t.offset,
    };
    Ok(Value::from(out.rfc3339()))
}
