//! Kubernetes resource quantities (`128Mi`, `1G`, `1.5Gi`, `129e6`), as
//! `k8s.io/apimachinery/pkg/api/resource` reads them, for memory and CPU.

/// The format the API server requires of a quantity.
pub const QUANTITY_FORMAT: &str =
    "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'";

/// A quantity in thousandths of its unit (millicores for CPU), rounded up as
/// `Quantity.MilliValue()` does. `Err` carries the API server's message.
///
/// ```
/// use wasmpod::spec::quantity::quantity_milli_value;
/// assert_eq!(quantity_milli_value("500m"), Ok(500));
/// assert_eq!(quantity_milli_value("1.5"), Ok(1500));
/// assert_eq!(quantity_milli_value("2"), Ok(2000));
/// assert_eq!(quantity_milli_value("100u"), Ok(1));
/// ```
pub fn quantity_milli_value(text: &str) -> Result<i128, String> {
    scaled(text, 3)
}

/// A quantity as a whole number of units (bytes for memory), rounded up as
/// `Quantity.Value()` does. `Err` carries the API server's message.
///
/// ```
/// use wasmpod::spec::quantity::quantity_value;
/// assert_eq!(quantity_value("64Mi"), Ok(64 << 20));
/// assert_eq!(quantity_value("1G"), Ok(1_000_000_000));
/// assert_eq!(quantity_value("1.5Ki"), Ok(1536));
/// assert_eq!(quantity_value("129e6"), Ok(129_000_000));
/// assert!(quantity_value("12 MB").is_err());
/// ```
pub fn quantity_value(text: &str) -> Result<i128, String> {
    scaled(text, 0)
}

/// A quantity in billionths of its unit, rounded up: exact for every quantity with at most
/// nine decimals, so rules can compare values (a `divisor` of `1000m` is `1`).
pub(crate) fn quantity_nano_value(text: &str) -> Result<i128, String> {
    scaled(text, 9)
}

/// The quantity × 10^`shift`, rounded up.
fn scaled(text: &str, shift: i32) -> Result<i128, String> {
    let bad = || Err(QUANTITY_FORMAT.to_string());
    let (negative, rest) = match text.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, text.strip_prefix('+').unwrap_or(text)),
    };
    let split = rest
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(rest.len());
    let (number, suffix) = rest.split_at(split);
    let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
    if whole.is_empty() && fraction.is_empty() || fraction.contains('.') {
        return bad();
    }
    let digits = format!("{whole}{fraction}");
    let Ok(mantissa) = digits.parse::<i128>() else {
        return bad();
    };
    // value = mantissa × 10^-fraction × (2^10)^binary × 10^decimal
    let (binary, decimal): (u32, i32) = match suffix {
        "" => (0, 0),
        "Ki" => (1, 0),
        "Mi" => (2, 0),
        "Gi" => (3, 0),
        "Ti" => (4, 0),
        "Pi" => (5, 0),
        "Ei" => (6, 0),
        "n" => (0, -9),
        "u" => (0, -6),
        "m" => (0, -3),
        "k" => (0, 3),
        "M" => (0, 6),
        "G" => (0, 9),
        "T" => (0, 12),
        "P" => (0, 15),
        "E" => (0, 18),
        s if s.starts_with(['e', 'E']) => match s[1..].parse::<i32>() {
            Ok(e) if (-30..=30).contains(&e) => (0, e),
            _ => return bad(),
        },
        _ => return bad(),
    };
    let exponent = decimal + shift - fraction.len() as i32;
    let Some(scaled) = 1024i128
        .checked_pow(binary)
        .and_then(|b| mantissa.checked_mul(b))
        .and_then(|v| {
            if exponent >= 0 {
                10i128
                    .checked_pow(exponent as u32)
                    .and_then(|p| v.checked_mul(p))
            } else {
                let p = 10i128.checked_pow(exponent.unsigned_abs())?;
                Some(v.div_euclid(p) + i128::from(v.rem_euclid(p) != 0))
            }
        })
    else {
        return bad();
    };
    Ok(if negative { -scaled } else { scaled })
}

/// A container's `resources.requests.cpu` (`requests`) or
/// `resources.limits.cpu`, in millicores.
pub(crate) fn cpu_millis(c: &k8s_openapi::api::core::v1::Container, requests: bool) -> Option<u64> {
    let r = c.resources.as_ref()?;
    let map = if requests { &r.requests } else { &r.limits };
    let q = map.as_ref()?.get("cpu")?;
    u64::try_from(quantity_milli_value(&q.0).ok()?).ok()
}

#[cfg(test)]
mod tests {
    use super::quantity_value;

    #[test]
    fn quantities() {
        for (text, want) in [
            ("0", 0),
            ("128974848", 128_974_848),
            ("129e6", 129_000_000),
            ("129M", 129_000_000),
            ("123Mi", 128_974_848),
            ("1Gi", 1 << 30),
            ("0.5Gi", 1 << 29),
            ("1.1", 2),
            ("500m", 1),
            ("+2k", 2000),
            ("-1Ki", -1024),
            (".5Ki", 512),
        ] {
            assert_eq!(quantity_value(text), Ok(want), "{text}");
        }
        for text in ["", "Mi", "1..5", "1MB", "12 Mi", "1e99", "Gi1", "1.2.3"] {
            assert!(quantity_value(text).is_err(), "{text}");
        }
    }
}
