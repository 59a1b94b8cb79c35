//! Time applets: `date` and `sleep`.
//!
//! WASI has no time zones; `date` always reports UTC (as busybox does with
//! no zone configured).

use std::io::Write;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::io::Io;
use crate::term;

const WEEKDAYS: [&str; 7] = [
    "Sunday",
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
];
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

/// Busybox's default `date` format.
pub const DEFAULT_FORMAT: &str = "%a %b %e %H:%M:%S %Z %Y";

/// A broken-down UTC time.
#[derive(Debug, PartialEq)]
pub struct Tm {
    pub year: i64,
    /// 1..=12
    pub month: u32,
    /// 1..=31
    pub day: u32,
    pub hour: u32,
    pub minute: u32,
    pub second: u32,
    /// 0 = Sunday
    pub weekday: u32,
    /// 1..=366
    pub yday: u32,
}

/// Converts seconds since the Unix epoch to UTC calendar fields (proleptic
/// Gregorian calendar; Howard Hinnant's `civil_from_days`).
pub fn utc(secs: i64) -> Tm {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400) as u32;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    let before = [0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334][month as usize - 1];
    let yday = before + day + u32::from(leap && month > 2);
    Tm {
        year,
        month,
        day,
        hour: rem / 3600,
        minute: rem / 60 % 60,
        second: rem % 60,
        weekday: (days + 4).rem_euclid(7) as u32,
        yday,
    }
}

/// Formats a time like `strftime` in UTC. Supports `%a %A %b %B %h %c %C %d
/// %D %e %F %H %I %j %k %l %m %M %n %N %p %R %s %S %t %T %u %w %y %Y %z %Z
/// %%`; unknown conversions are copied as they are.
pub fn format(fmt: &str, secs: i64, nanos: u32) -> String {
    let tm = utc(secs);
    let mut out = String::new();
    let mut chars = fmt.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let Some(conv) = chars.next() else {
            out.push('%');
            break;
        };
        let hour12 = if tm.hour.is_multiple_of(12) {
            12
        } else {
            tm.hour % 12
        };
        let s = match conv {
            'a' => WEEKDAYS[tm.weekday as usize][..3].to_string(),
            'A' => WEEKDAYS[tm.weekday as usize].to_string(),
            'b' | 'h' => MONTHS[tm.month as usize - 1][..3].to_string(),
            'B' => MONTHS[tm.month as usize - 1].to_string(),
            'c' => format("%a %b %e %H:%M:%S %Y", secs, nanos),
            'C' => format!("{:02}", tm.year.div_euclid(100)),
            'd' => format!("{:02}", tm.day),
            'D' => format("%m/%d/%y", secs, nanos),
            'e' => format!("{:2}", tm.day),
            'F' => format("%Y-%m-%d", secs, nanos),
            'H' => format!("{:02}", tm.hour),
            'I' => format!("{hour12:02}"),
            'j' => format!("{:03}", tm.yday),
            'k' => format!("{:2}", tm.hour),
            'l' => format!("{hour12:2}"),
            'm' => format!("{:02}", tm.month),
            'M' => format!("{:02}", tm.minute),
            'n' => "\n".into(),
            'N' => format!("{nanos:09}"),
            'p' => if tm.hour < 12 { "AM" } else { "PM" }.into(),
            'R' => format("%H:%M", secs, nanos),
            's' => secs.to_string(),
            'S' => format!("{:02}", tm.second),
            't' => "\t".into(),
            'T' => format("%H:%M:%S", secs, nanos),
            'u' => (if tm.weekday == 0 { 7 } else { tm.weekday }).to_string(),
            'w' => tm.weekday.to_string(),
            'y' => format!("{:02}", tm.year.rem_euclid(100)),
            'Y' => tm.year.to_string(),
            'z' => "+0000".into(),
            'Z' => "UTC".into(),
            '%' => "%".into(),
            other => format!("%{other}"),
        };
        out.push_str(&s);
    }
    out
}

/// `date [-u] [-R] [-I] [-d @SECONDS] [+FORMAT]`.
pub fn date(args: &[String], io: &mut Io) -> i32 {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO);
    let (mut secs, mut nanos) = (now.as_secs() as i64, now.subsec_nanos());
    let mut fmt = DEFAULT_FORMAT.to_string();
    let mut it = args.iter().skip(1);
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "-u" | "--utc" => {}
            "-R" => fmt = "%a, %d %b %Y %H:%M:%S %z".into(),
            "-I" => fmt = "%Y-%m-%d".into(),
            "-d" | "--date" => {
                let spec = it.next().map(String::as_str).unwrap_or_default();
                match spec.strip_prefix('@').and_then(|s| s.parse::<i64>().ok()) {
                    Some(s) => (secs, nanos) = (s, 0),
                    None => {
                        io.error(format!(
                            "date: invalid date '{spec}' (only @SECONDS is supported)"
                        ));
                        return 1;
                    }
                }
            }
            a if a.starts_with('+') => fmt = a[1..].to_string(),
            a => {
                io.error(format!("date: setting the time is not supported: {a}"));
                return 1;
            }
        }
    }
    i32::from(writeln!(io.stdout, "{}", format(&fmt, secs, nanos)).is_err())
}

/// Parses a `sleep` operand: seconds (fractional allowed) with an optional
/// `s`/`m`/`h`/`d` suffix, or `infinity`. `None` means forever.
fn duration(arg: &str) -> Result<Option<Duration>, String> {
    if arg == "inf" || arg == "infinity" {
        return Ok(None);
    }
    let (num, unit) = match arg.strip_suffix(['s', 'm', 'h', 'd']) {
        Some(n) => (n, &arg[n.len()..]),
        None => (arg, "s"),
    };
    let mult = match unit {
        "m" => 60.0,
        "h" => 3600.0,
        "d" => 86_400.0,
        _ => 1.0,
    };
    match num.parse::<f64>() {
        Ok(v) if v >= 0.0 && v.is_finite() => Ok(Some(Duration::from_secs_f64(v * mult))),
        _ => Err(format!("invalid number '{arg}'")),
    }
}

/// `sleep DURATION...`: sleeps for the sum. Returns 143 early if
/// termination is requested and the guest subscribed (a shell TERM trap).
pub fn sleep(args: &[String], io: &mut Io) -> i32 {
    if args.len() < 2 {
        io.error("sleep: usage: sleep SECONDS");
        return 1;
    }
    let mut total = Some(Duration::ZERO);
    for arg in &args[1..] {
        match duration(arg) {
            Ok(Some(d)) => total = total.map(|t| t.saturating_add(d)),
            Ok(None) => total = None,
            Err(e) => {
                io.error(format!("sleep: {e}"));
                return 1;
            }
        }
    }
    io.flush();
    let interrupted = match total {
        Some(d) => term::sleep(d),
        None => loop {
            if term::sleep(Duration::from_secs(86_400)) {
                break true;
            }
        },
    };
    if interrupted { term::STATUS } else { 0 }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calendar() {
        assert_eq!(utc(0).year, 1970);
        assert_eq!(utc(0).weekday, 4); // Thursday
        // 2026-11-21T06:09:00Z, a Saturday.
        let t = utc(1_795_241_340);
        assert_eq!(
            (t.year, t.month, t.day, t.hour, t.minute, t.second),
            (2026, 11, 21, 6, 9, 0)
        );
        assert_eq!(t.weekday, 6);
        // Leap day and the day before the epoch.
        let leap = utc(951_782_400); // 2000-02-29
        assert_eq!(
            (leap.year, leap.month, leap.day, leap.yday),
            (2000, 2, 29, 60)
        );
        let before = utc(-1);
        assert_eq!(
            (before.year, before.month, before.day, before.second),
            (1969, 12, 31, 59)
        );
        assert_eq!(utc(1_798_761_600).yday, 1); // 2027-01-01
    }

    #[test]
    fn busybox_default_format() {
        assert_eq!(
            format(DEFAULT_FORMAT, 1_795_241_340, 0),
            "Sat Nov 21 06:09:00 UTC 2026"
        );
        // Single-digit days are space-padded, as with %e.
        assert_eq!(
            format(DEFAULT_FORMAT, 1_793_513_340, 0),
            "Sun Nov  1 06:09:00 UTC 2026"
        );
    }

    #[test]
    fn conversions() {
        let t = 1_795_241_340;
        assert_eq!(format("%s%N", t, 42), "1795241340000000042");
        assert_eq!(format("%Y-%m-%d %H:%M:%S", t, 0), "2026-11-21 06:09:00");
        assert_eq!(format("%F %T %%", t, 0), "2026-11-21 06:09:00 %");
        assert_eq!(format("%j %u %w %I %p %y %Q", t, 0), "325 6 6 06 AM 26 %Q");
    }

    #[test]
    fn sleep_durations() {
        assert_eq!(duration("1.5"), Ok(Some(Duration::from_millis(1500))));
        assert_eq!(duration("2m"), Ok(Some(Duration::from_secs(120))));
        assert_eq!(duration("infinity"), Ok(None));
        assert!(duration("x").is_err());
        assert!(duration("-1").is_err());
    }
}
