//! JSON input read as JSON: every valid JSON document is a valid manifest.
//!
//! YAML 1.2 is a superset of JSON except for one thing: JSON writes a
//! character outside the Basic Multilingual Plane as a UTF-16 surrogate
//! pair (`"\ud83d\udea9"`, what `json.dumps` and `jq -a` produce for 🚩),
//! which YAML's `\u` escape does not allow, so the YAML parser refuses it.
//! Before parsing, a document that is JSON (it starts with `{` or `[`) has
//! each surrogate-pair escape inside its strings replaced by the character
//! itself, and a lone surrogate by `\ufffd` — what Go's `encoding/json`, and
//! so kubectl, decode them to. Nothing else changes, so lines stay where
//! they were for error messages.

use std::borrow::Cow;

/// `text` with surrogate escapes in its JSON strings joined (borrowed when
/// there is none, or when the text is not JSON).
pub(crate) fn join_surrogates(text: &str) -> Cow<'_, str> {
    let is_json = text.trim_start().starts_with(['{', '[']);
    if !is_json || !text.contains("\\u") {
        return Cow::Borrowed(text);
    }
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let (mut i, mut copied, mut in_string) = (0, 0, false);
    while i < bytes.len() {
        match (in_string, bytes[i]) {
            (false, b'"') => in_string = true,
            (true, b'"') => in_string = false,
            (true, b'\\') if bytes.get(i + 1) == Some(&b'u') => {
                if let Some(unit) = hex4(text, i + 2)
                    && (0xD800..0xE000).contains(&unit)
                {
                    out.push_str(&text[copied..i]);
                    let low = hex4(text, i + 8)
                        .filter(|low| (0xDC00..0xE000).contains(low) && unit < 0xDC00)
                        .filter(|_| text[i + 6..].starts_with("\\u"));
                    match low {
                        Some(low) => {
                            let c = 0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00);
                            out.push(char::from_u32(c).unwrap_or('\u{FFFD}'));
                            i += 12;
                        }
                        None => {
                            out.push_str("\\ufffd");
                            i += 6;
                        }
                    }
                    copied = i;
                    continue;
                }
                i += 2;
                continue;
            }
            // Any other escape: skip the escaped character.
            (true, b'\\') => {
                i += 2;
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    if copied == 0 {
        return Cow::Borrowed(text);
    }
    out.push_str(&text[copied.min(text.len())..]);
    Cow::Owned(out)
}

/// The four hex digits at `at`, as a number.
fn hex4(text: &str, at: usize) -> Option<u32> {
    let digits = text.get(at..at + 4)?;
    if !digits.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    u32::from_str_radix(digits, 16).ok()
}

#[cfg(test)]
mod tests {
    use super::join_surrogates;

    #[test]
    fn surrogate_pairs_become_characters() {
        let json =
            "{\"a\": \"flag \\ud83d\\udea9 \\u00e9 \\\\ud83d\",\n \"b\": \"\\uD83D\\uDE00\"}";
        assert_eq!(
            join_surrogates(json),
            "{\"a\": \"flag \u{1F6A9} \\u00e9 \\\\ud83d\",\n \"b\": \"\u{1F600}\"}"
        );
    }

    #[test]
    fn lone_surrogates_become_the_replacement_character() {
        assert_eq!(
            join_surrogates("[\"\\ud83d x\", \"\\udea9\"]"),
            "[\"\\ufffd x\", \"\\ufffd\"]"
        );
        assert_eq!(join_surrogates("[\"\\ud83d\"]"), "[\"\\ufffd\"]");
    }

    #[test]
    fn yaml_and_plain_json_are_left_alone() {
        let yaml = "a: \"\\ud83d\\udea9\"\n";
        assert!(matches!(
            join_surrogates(yaml),
            std::borrow::Cow::Borrowed(_)
        ));
        let json = "{\"a\": \"\\u00e9\"}";
        assert!(matches!(
            join_surrogates(json),
            std::borrow::Cow::Borrowed(_)
        ));
    }

    #[test]
    fn a_json_pod_with_emoji_loads_and_errors_keep_their_lines() {
        let pod = r#"{
  "apiVersion": "v1",
  "kind": "Pod",
  "metadata": {"name": "flag", "annotations": {"note": "\ud83d\udea9 ship it"}},
  "spec": {"containers": [{"name": "app", "image": "busybox"}]}
}"#;
        let loaded = crate::spec::load(pod).expect("valid JSON is a valid manifest");
        let annotations = loaded.pods[0]
            .document
            .pod
            .metadata
            .annotations
            .clone()
            .unwrap();
        assert_eq!(annotations["note"], "\u{1F6A9} ship it");
        let bad = pod.replace(r#""image": "busybox""#, r#""image": 7"#);
        let err = crate::spec::load(&bad).unwrap_err().to_string();
        assert!(err.contains("line 5"), "{err}");
    }
}
