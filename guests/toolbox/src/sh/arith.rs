//! Arithmetic expansion `$((...))`: signed 64-bit integer expressions with
//! C precedence (`* / % + - << >> < <= > >= == != & ^ | && || ?:`, unary
//! `- + ! ~`, parentheses). Variable names evaluate to their integer value
//! (unset or empty is 0). Assignment operators are not supported.

/// Evaluates `src`, looking variables up with `var`.
pub fn eval(src: &str, var: &dyn Fn(&str) -> Option<String>) -> Result<i64, String> {
    let mut p = Parser {
        chars: src.chars().collect(),
        pos: 0,
        var,
    };
    let v = p.ternary()?;
    p.skip_ws();
    match p.chars.get(p.pos) {
        None => Ok(v),
        Some(c) => Err(format!("arithmetic syntax error near '{c}'")),
    }
}

struct Parser<'a> {
    chars: Vec<char>,
    pos: usize,
    var: &'a dyn Fn(&str) -> Option<String>,
}

/// Binary operators by precedence level, lowest first.
const LEVELS: &[&[&str]] = &[
    &["||"],
    &["&&"],
    &["|"],
    &["^"],
    &["&"],
    &["==", "!="],
    &["<=", ">=", "<", ">"],
    &["<<", ">>"],
    &["+", "-"],
    &["*", "/", "%"],
];

impl Parser<'_> {
    fn skip_ws(&mut self) {
        while self.chars.get(self.pos).is_some_and(|c| c.is_whitespace()) {
            self.pos += 1;
        }
    }

    fn starts_with(&self, s: &str) -> bool {
        s.chars()
            .enumerate()
            .all(|(i, c)| self.chars.get(self.pos + i) == Some(&c))
    }

    /// Consumes operator `op` unless it is the prefix of a longer operator
    /// (`|` of `||`, `<` of `<<`/`<=`, `&` of `&&`).
    fn eat_op(&mut self, op: &str) -> bool {
        self.skip_ws();
        if !self.starts_with(op) {
            return false;
        }
        let next = self.chars.get(self.pos + op.len()).copied();
        let longer = match op {
            "|" => next == Some('|'),
            "&" => next == Some('&'),
            "<" => matches!(next, Some('<' | '=')),
            ">" => matches!(next, Some('>' | '=')),
            _ => false,
        };
        if longer {
            return false;
        }
        self.pos += op.len();
        true
    }

    fn ternary(&mut self) -> Result<i64, String> {
        let cond = self.binary(0)?;
        if !self.eat_op("?") {
            return Ok(cond);
        }
        let a = self.ternary()?;
        if !self.eat_op(":") {
            return Err("expected ':' in arithmetic".into());
        }
        let b = self.ternary()?;
        Ok(if cond != 0 { a } else { b })
    }

    fn binary(&mut self, level: usize) -> Result<i64, String> {
        if level == LEVELS.len() {
            return self.unary();
        }
        let mut lhs = self.binary(level + 1)?;
        'outer: loop {
            for op in LEVELS[level] {
                if self.eat_op(op) {
                    let rhs = self.binary(level + 1)?;
                    lhs = apply(op, lhs, rhs)?;
                    continue 'outer;
                }
            }
            return Ok(lhs);
        }
    }

    fn unary(&mut self) -> Result<i64, String> {
        self.skip_ws();
        let c = self.chars.get(self.pos).copied();
        match c {
            Some('-' | '+' | '!' | '~') => {
                self.pos += 1;
                let v = self.unary()?;
                Ok(match c {
                    Some('-') => v.wrapping_neg(),
                    Some('+') => v,
                    Some('!') => i64::from(v == 0),
                    _ => !v,
                })
            }
            Some('(') => {
                self.pos += 1;
                let v = self.ternary()?;
                if !self.eat_op(")") {
                    return Err("missing ')' in arithmetic".into());
                }
                Ok(v)
            }
            Some(c) if c.is_ascii_digit() => {
                let start = self.pos;
                while self
                    .chars
                    .get(self.pos)
                    .is_some_and(|c| c.is_ascii_alphanumeric())
                {
                    self.pos += 1;
                }
                let text: String = self.chars[start..self.pos].iter().collect();
                number(&text)
            }
            Some(c) if c.is_ascii_alphabetic() || c == '_' => {
                let start = self.pos;
                while self
                    .chars
                    .get(self.pos)
                    .is_some_and(|c| c.is_ascii_alphanumeric() || *c == '_')
                {
                    self.pos += 1;
                }
                let name: String = self.chars[start..self.pos].iter().collect();
                match (self.var)(&name) {
                    None => Ok(0),
                    Some(v) if v.trim().is_empty() => Ok(0),
                    Some(v) => number(v.trim()),
                }
            }
            Some(c) => Err(format!("arithmetic syntax error near '{c}'")),
            None => Err("arithmetic syntax error: missing operand".into()),
        }
    }
}

/// Parses a decimal, `0x` hexadecimal or `0` octal integer.
fn number(text: &str) -> Result<i64, String> {
    let (digits, radix) = if let Some(h) = text.strip_prefix("0x").or(text.strip_prefix("0X")) {
        (h, 16)
    } else if text.len() > 1 && text.starts_with('0') {
        (&text[1..], 8)
    } else {
        (text, 10)
    };
    let (neg, digits) = match digits.strip_prefix('-') {
        Some(d) => (true, d),
        None => (false, digits),
    };
    i64::from_str_radix(digits, radix)
        .map(|v| if neg { -v } else { v })
        .map_err(|_| format!("{text}: bad number"))
}

fn apply(op: &str, a: i64, b: i64) -> Result<i64, String> {
    Ok(match op {
        "||" => i64::from(a != 0 || b != 0),
        "&&" => i64::from(a != 0 && b != 0),
        "|" => a | b,
        "^" => a ^ b,
        "&" => a & b,
        "==" => i64::from(a == b),
        "!=" => i64::from(a != b),
        "<=" => i64::from(a <= b),
        ">=" => i64::from(a >= b),
        "<" => i64::from(a < b),
        ">" => i64::from(a > b),
        "<<" => a.wrapping_shl(b as u32),
        ">>" => a.wrapping_shr(b as u32),
        "+" => a.wrapping_add(b),
        "-" => a.wrapping_sub(b),
        "*" => a.wrapping_mul(b),
        "/" | "%" if b == 0 => return Err("division by zero".into()),
        "/" => a.wrapping_div(b),
        "%" => a.wrapping_rem(b),
        _ => unreachable!("operator table"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn calc(s: &str) -> Result<i64, String> {
        eval(s, &|name| match name {
            "i" => Some("41".into()),
            "e" => Some(String::new()),
            _ => None,
        })
    }

    #[test]
    fn precedence_and_variables() {
        assert_eq!(calc("1 + 2 * 3"), Ok(7));
        assert_eq!(calc("(1 + 2) * 3"), Ok(9));
        assert_eq!(calc("i + 1"), Ok(42));
        assert_eq!(calc("unset + e"), Ok(0));
        assert_eq!(calc("-3 % 2"), Ok(-1));
        assert_eq!(calc("1 << 4 | 1"), Ok(17));
        assert_eq!(calc("3 > 2 && 2 >= 2"), Ok(1));
        assert_eq!(calc("0 ? 1 : 2"), Ok(2));
        assert_eq!(calc("0x10 + 010"), Ok(24));
        assert!(calc("1 / 0").is_err());
        assert!(calc("1 +").is_err());
    }
}
