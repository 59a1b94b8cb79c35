//! Go's spellings of values that agnhost writes into response bodies:
//! [`go_duration`] (`time.Duration.String`), [`go_float`] (`%v` of a
//! `float64`) and [`go_quote`] (`%q` of a string).

use std::time::Duration;

/// Formats a duration the way Go's `time.Duration.String` does (`0s`,
/// `1.5µs`, `250ms`, `12.345678901s`, `2m0s`, `1h0m5.5s`), which is what
/// agnhost's control endpoints and `liveness`' `/started` answer with.
pub fn go_duration(d: Duration) -> String {
    /// `value` / 10^`digits` with the fraction's trailing zeros removed.
    fn decimal(value: u128, digits: u32) -> String {
        let scale = 10u128.pow(digits);
        let (int, frac) = (value / scale, value % scale);
        if frac == 0 {
            return int.to_string();
        }
        let frac = format!("{frac:0width$}", width = digits as usize);
        format!("{int}.{}", frac.trim_end_matches('0'))
    }
    let ns = d.as_nanos();
    match ns {
        0 => "0s".to_string(),
        1..1_000 => format!("{ns}ns"),
        1_000..1_000_000 => format!("{}µs", decimal(ns, 3)),
        1_000_000..1_000_000_000 => format!("{}ms", decimal(ns, 6)),
        _ => {
            let secs = d.as_secs();
            let (h, m) = (secs / 3600, secs / 60 % 60);
            let s = decimal(
                u128::from(secs % 60) * 1_000_000_000 + u128::from(d.subsec_nanos()),
                9,
            );
            match (h, m) {
                (0, 0) => format!("{s}s"),
                (0, _) => format!("{m}m{s}s"),
                _ => format!("{h}h{m}m{s}s"),
            }
        }
    }
}

/// Go's `time.Duration.Seconds`: whole seconds plus the nanoseconds over
/// 1e9, in that order of floating-point operations.
pub fn go_seconds(d: Duration) -> f64 {
    d.as_secs() as f64 + f64::from(d.subsec_nanos()) / 1e9
}

/// Formats a `float64` the way Go's `fmt` does for `%v`: the shortest
/// digits that read back as the same number (`10.523456789`, `11`,
/// `0.0001`), in exponent form when the decimal exponent is below -4 or
/// at least 6 (`1.5e-05`, `1.2345678e+06`); `+Inf`, `-Inf`, `NaN`.
pub fn go_float(v: f64) -> String {
    if v.is_nan() {
        return "NaN".into();
    }
    if v.is_infinite() {
        return if v > 0.0 { "+Inf" } else { "-Inf" }.into();
    }
    let sign = if v.is_sign_negative() { "-" } else { "" };
    if v == 0.0 {
        return format!("{sign}0");
    }
    // Rust's `{:e}` gives the same shortest round-trip digits: `d.ddde-x`.
    let scientific = format!("{:e}", v.abs());
    let (mantissa, exp) = scientific.split_once('e').unwrap_or((&scientific, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let mut digits: String = mantissa.chars().filter(|&c| c != '.').collect();
    break_tie_to_even(v.abs(), exp, &mut digits);
    if !(-4..6).contains(&exp) {
        let (first, rest) = digits.split_at(1);
        let point = if rest.is_empty() { "" } else { "." };
        let exp_sign = if exp < 0 { '-' } else { '+' };
        format!(
            "{sign}{first}{point}{rest}e{exp_sign}{:02}",
            exp.unsigned_abs()
        )
    } else if exp < 0 {
        let zeros = "0".repeat(exp.unsigned_abs() as usize - 1);
        format!("{sign}0.{zeros}{digits}")
    } else {
        let int_len = exp.unsigned_abs() as usize + 1;
        if digits.len() <= int_len {
            format!("{sign}{digits:0<int_len$}")
        } else {
            let (int, frac) = digits.split_at(int_len);
            format!("{sign}{int}.{frac}")
        }
    }
}

/// When `v` lies exactly halfway between two shortest candidates (which
/// takes 16 or 17 digits), Rust's `{:e}` takes the upper one and Go the one
/// with an even last digit: so turns the odd `digits` (of `v`, whose
/// decimal exponent is `exp`) into Go's.
fn break_tie_to_even(v: f64, exp: i32, digits: &mut String) {
    let Some(last) = digits.pop() else { return };
    let odd = last.to_digit(10).filter(|d| d % 2 == 1);
    let Some(below) = odd.and_then(|d| char::from_digit(d - 1, 10)) else {
        digits.push(last);
        return;
    };
    if digits.len() >= 15 {
        // 767 digits after the point show any f64 exactly.
        let exact = format!("{v:.767e}");
        let (mantissa, exact_exp) = exact.split_once('e').unwrap_or((&exact, ""));
        let exact_digits = mantissa.replace('.', "");
        let midpoint = format!("{digits}{below}5");
        if exact_exp == exp.to_string() && exact_digits.trim_end_matches('0') == midpoint {
            digits.push(below);
            return;
        }
    }
    digits.push(last);
}

/// Quotes bytes the way Go's `%q` (`strconv.Quote`) does: in double
/// quotes, `"` and `\` backslashed, `\n`-style escapes for the usual
/// controls, `\x` for other ASCII controls and for each byte that is not
/// UTF-8, `\u`/`\U` for other characters Go does not print as they are.
/// Go's notion of printable is approximated: control, format, space
/// (other than ' '), private-use and noncharacters are escaped, and so
/// are the unassigned planes 4 to 13; other unassigned code points are
/// not.
pub fn go_quote(s: &[u8]) -> String {
    let mut out = String::from("\"");
    for chunk in s.utf8_chunks() {
        for c in chunk.valid().chars() {
            match c {
                '"' | '\\' => {
                    out.push('\\');
                    out.push(c);
                }
                '\x07' => out.push_str("\\a"),
                '\x08' => out.push_str("\\b"),
                '\x0c' => out.push_str("\\f"),
                '\n' => out.push_str("\\n"),
                '\r' => out.push_str("\\r"),
                '\t' => out.push_str("\\t"),
                '\x0b' => out.push_str("\\v"),
                _ if printable(c) => out.push(c),
                '\0'..' ' | '\x7f' => out.push_str(&format!("\\x{:02x}", u32::from(c))),
                '\u{80}'..='\u{ffff}' => out.push_str(&format!("\\u{:04x}", u32::from(c))),
                _ => out.push_str(&format!("\\U{:08x}", u32::from(c))),
            }
        }
        for b in chunk.invalid() {
            out.push_str(&format!("\\x{b:02x}"));
        }
    }
    out.push('"');
    out
}

/// Approximately Go's `unicode.IsPrint`.
fn printable(c: char) -> bool {
    let format = matches!(
        c,
        '\u{ad}'
            | '\u{600}'..='\u{605}'
            | '\u{61c}'
            | '\u{6dd}'
            | '\u{70f}'
            | '\u{890}'..='\u{891}'
            | '\u{8e2}'
            | '\u{180e}'
            | '\u{200b}'..='\u{200f}'
            | '\u{202a}'..='\u{202e}'
            | '\u{2060}'..='\u{206f}'
            | '\u{feff}'
            | '\u{fff9}'..='\u{fffb}'
            | '\u{e0001}'
            | '\u{e0020}'..='\u{e007f}'
    );
    // Private use, planes 4 to 13 (unassigned), noncharacters.
    let unprintable = matches!(
        c,
        '\u{e000}'..='\u{f8ff}' | '\u{40000}'..='\u{dffff}' | '\u{f0000}'..
    ) || matches!(u32::from(c), 0xfdd0..=0xfdef)
        || u32::from(c) & 0xfffe == 0xfffe;
    c == ' ' || !(c.is_control() || c.is_whitespace() || format || unprintable)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_durations() {
        let ns = Duration::from_nanos;
        let secs = Duration::from_secs;
        assert_eq!(go_duration(ns(0)), "0s");
        assert_eq!(go_duration(ns(999)), "999ns");
        assert_eq!(go_duration(ns(1_500)), "1.5µs");
        assert_eq!(go_duration(ns(2_000)), "2µs");
        assert_eq!(go_duration(ns(250_000_000)), "250ms");
        assert_eq!(go_duration(ns(1_234_567)), "1.234567ms");
        assert_eq!(go_duration(ns(1_234_567_000)), "1.234567s");
        assert_eq!(go_duration(ns(12_345_678_901)), "12.345678901s");
        assert_eq!(go_duration(secs(1)), "1s");
        assert_eq!(go_duration(secs(120)), "2m0s");
        assert_eq!(go_duration(ns(3_605_500_000_000)), "1h0m5.5s");
        assert_eq!(go_duration(secs(90_000)), "25h0m0s");
    }

    #[test]
    fn go_floats() {
        // What Go's fmt.Sprintf("%v", x) prints.
        for (x, want) in [
            (10.523456789, "10.523456789"),
            (10.523, "10.523"),
            (11.0, "11"),
            (10.000000001, "10.000000001"),
            (0.1 + 0.2, "0.30000000000000004"),
            (123456.0, "123456"),
            (999999.5, "999999.5"),
            (1e6, "1e+06"),
            (1234567.0, "1.234567e+06"),
            (1.5e21, "1.5e+21"),
            (1e100, "1e+100"),
            // Exactly halfway between two 17-digit candidates: Go takes
            // the even one.
            (2_042_063_978_744_880.0 + 0.25, "2.0420639787448802e+15"),
            (10.0 + 1.0 / 65536.0, "10.000015258789062"),
            (0.0001, "0.0001"),
            (0.00012, "0.00012"),
            (0.00001, "1e-05"),
            (1.5e-7, "1.5e-07"),
            (-2.5, "-2.5"),
            (0.0, "0"),
            (-0.0, "-0"),
            (f64::INFINITY, "+Inf"),
            (f64::NEG_INFINITY, "-Inf"),
            (f64::NAN, "NaN"),
        ] {
            assert_eq!(go_float(x), want, "{x:?}");
        }
    }

    #[test]
    fn go_seconds_like_duration_seconds() {
        assert_eq!(go_seconds(Duration::from_millis(10_523)), 10.523);
        assert_eq!(go_seconds(Duration::new(10, 1)), 10.000000001);
        assert_eq!(go_seconds(Duration::from_secs(10)), 10.0);
    }

    #[test]
    fn go_quotes() {
        for (s, want) in [
            (&b""[..], r#""""#),
            (b"%", r#""%""#),
            (b"%zz/a b", r#""%zz/a b""#),
            (b"say \"hi\"\\", r#""say \"hi\"\\""#),
            (b"\n\r\t\x07\x08\x0b\x0c", r#""\n\r\t\a\b\v\f""#),
            (b"\x00\x1b\x7f", r#""\x00\x1b\x7f""#),
            (b"\xff\xe2\x82", r#""\xff\xe2\x82""#),
            ("é€😀".as_bytes(), "\"é€😀\""),
            (
                "\u{85}\u{a0}\u{200b}\u{feff}".as_bytes(),
                r#""\u0085\u00a0\u200b\ufeff""#,
            ),
            ("\u{e0001}".as_bytes(), r#""\U000e0001""#),
            (
                "\u{e000}\u{fffe}\u{4e6f7}\u{10ffff}".as_bytes(),
                r#""\ue000\ufffe\U0004e6f7\U0010ffff""#,
            ),
        ] {
            assert_eq!(go_quote(s), want, "{s:?}");
        }
    }
}
