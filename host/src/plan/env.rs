//! Container environment: `env[].value`, `env[].valueFrom.fieldRef`, and the
//! `$(VAR)` expansion Kubernetes applies to env values, `command` and `args`.
//!
//! The expansion is a port of the rules of Kubernetes'
//! `third_party/forked/golang/expansion`: `$(NAME)` is replaced by the value
//! of `NAME` if it is defined (for env values: defined *earlier* in the list),
//! otherwise left verbatim; `$$` is an escaped `$`; any other `$` is literal.

use std::collections::HashMap;

/// Expands `$(VAR)` references in `input` using `lookup`.
///
/// ```
/// use wasmpod::plan::expand;
/// let vars = |name: &str| (name == "GREETING").then(|| "hello".to_string());
/// assert_eq!(expand("$(GREETING) world", vars), "hello world");
/// assert_eq!(expand("$(MISSING) $$(GREETING)", vars), "$(MISSING) $(GREETING)");
/// ```
pub fn expand(input: &str, lookup: impl Fn(&str) -> Option<String>) -> String {
    let bytes = input.as_bytes();
    let mut out = String::with_capacity(input.len());
    let mut i = 0;
    let mut literal_start = 0;
    while i < bytes.len() {
        if bytes[i] != b'$' || i + 1 >= bytes.len() {
            i += 1;
            continue;
        }
        out.push_str(&input[literal_start..i]);
        match bytes[i + 1] {
            b'$' => {
                out.push('$');
                i += 2;
            }
            b'(' => match input[i + 2..].find(')') {
                Some(len) => {
                    let name = &input[i + 2..i + 2 + len];
                    match lookup(name) {
                        Some(value) => out.push_str(&value),
                        None => out.push_str(&input[i..i + 3 + len]),
                    }
                    i += 3 + len;
                }
                None => {
                    // Unterminated reference: Kubernetes keeps it verbatim.
                    out.push_str(&input[i..]);
                    i = bytes.len();
                }
            },
            _ => {
                out.push('$');
                i += 1;
            }
        }
        literal_start = i;
    }
    out.push_str(&input[literal_start.min(input.len())..]);
    out
}

/// An ordered environment where later definitions override earlier ones,
/// as a container's `env` list does.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Environment {
    vars: Vec<(String, String)>,
    index: HashMap<String, usize>,
}

impl Environment {
    /// Sets `name` (keeping its first position if it was already set).
    pub fn set(&mut self, name: &str, value: String) {
        match self.index.get(name) {
            Some(&i) => self.vars[i].1 = value,
            None => {
                self.index.insert(name.to_string(), self.vars.len());
                self.vars.push((name.to_string(), value));
            }
        }
    }

    /// The value of `name`, if set.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.index.get(name).map(|&i| self.vars[i].1.as_str())
    }

    /// Expands `$(VAR)` references against this environment.
    pub fn expand(&self, input: &str) -> String {
        expand(input, |name| self.get(name).map(str::to_string))
    }

    /// The variables in definition order.
    pub fn vars(&self) -> &[(String, String)] {
        &self.vars
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Environment {
        let mut e = Environment::default();
        for (k, v) in pairs {
            e.set(k, v.to_string());
        }
        e
    }

    // Cases from Kubernetes' expansion_test.go (TestMapReference/TestMapping).
    #[test]
    fn expansion_matches_kubernetes() {
        let e = env(&[("VAR_A", "A"), ("VAR_B", "B"), ("VAR_EMPTY", "")]);
        let cases = [
            ("$(VAR_A)", "A"),
            ("___$(VAR_B)___", "___B___"),
            ("$(VAR_A)-$(VAR_A)", "A-A"),
            ("foo\\$(VAR_A)", "foo\\A"),
            ("$$(VAR_B)", "$(VAR_B)"),
            ("$$$$$$(BIG_MONEY)", "$$$(BIG_MONEY)"),
            ("$$$$$$$(VAR_A)", "$$$A"),
            ("$(VAR_DNE)", "$(VAR_DNE)"),
            ("$(VAR_A", "$(VAR_A"),
            ("$VAR_A", "$VAR_A"),
            ("$(VAR_EMPTY)x", "x"),
            ("$", "$"),
            ("$()", "$()"),
            ("f000-$$VAR_A", "f000-$VAR_A"),
            ("ünïcode $(VAR_A)", "ünïcode A"),
        ];
        for (input, want) in cases {
            assert_eq!(e.expand(input), want, "expanding {input:?}");
        }
    }

    #[test]
    fn later_definitions_override_but_keep_position() {
        let mut e = env(&[("A", "1"), ("B", "2")]);
        e.set("A", "3".into());
        assert_eq!(
            e.vars(),
            &[("A".into(), "3".into()), ("B".into(), "2".into())]
        );
    }
}
