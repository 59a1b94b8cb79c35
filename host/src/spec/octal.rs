//! File modes written as kubectl reads them: `defaultMode: 0644` is octal.
//!
//! kubectl and the API server read YAML 1.1, where a plain number with a leading `0` is
//! octal, and manifests say `defaultMode: 0644` (420) as the Kubernetes documentation does.
//! serde_yaml reads YAML 1.2, where `0644` is not a number at all, so the field would fail to
//! parse. Before parsing, each plain scalar `0[0-7]+` that is the value of a `mode` or
//! `defaultMode` key under a `volumes` key is rewritten `0o…`, YAML 1.2's octal; nothing
//! else changes (quoted strings, block scalars, other keys and a ConfigMap's `data` keep
//! their text, lines stay where they were).

use std::borrow::Cow;

use yaml_rust2::parser::{Event, Parser};
use yaml_rust2::scanner::TScalarStyle;

/// Keys whose plain octal-looking values are read as octal.
const MODE_KEYS: &[&str] = &["mode", "defaultMode"];

/// A collection the parser is in: a mapping (expecting a key, or the value of `key`) or a
/// sequence, and whether it is under a `volumes` key.
struct Frame {
    map: Option<MapState>,
    in_volumes: bool,
}

struct MapState {
    key_next: bool,
    key: Option<String>,
}

/// `text` with YAML 1.1 octal modes written as YAML 1.2 octal (borrowed when there is none).
/// Text yaml-rust2 cannot read is returned unchanged; serde_yaml reports its errors.
pub(crate) fn yaml11_modes(text: &str) -> Cow<'_, str> {
    if !text.contains("ode:") {
        return Cow::Borrowed(text);
    }
    let mut parser = Parser::new_from_str(text);
    let mut stack: Vec<Frame> = Vec::new();
    // Char offsets of the scalars to rewrite.
    let mut at: Vec<usize> = Vec::new();
    while let Ok((event, mark)) = parser.next_token() {
        let starts_node = matches!(
            event,
            Event::Scalar(..)
                | Event::Alias(_)
                | Event::MappingStart(..)
                | Event::SequenceStart(..)
        );
        // The key this node is the value of, if it is one.
        let mut value_of: Option<String> = None;
        if starts_node
            && let Some(MapState { key_next, key }) = stack.last_mut().and_then(|f| f.map.as_mut())
        {
            if *key_next {
                *key = match &event {
                    Event::Scalar(k, ..) => Some(k.clone()),
                    _ => None,
                };
            } else {
                value_of = key.take();
            }
            *key_next = !*key_next;
        }
        let in_volumes = stack.last().is_some_and(|f| f.in_volumes);
        let opened = |map: bool| Frame {
            map: map.then_some(MapState {
                key_next: true,
                key: None,
            }),
            in_volumes: in_volumes || value_of.as_deref() == Some("volumes"),
        };
        match event {
            Event::StreamEnd => break,
            Event::MappingStart(..) => stack.push(opened(true)),
            Event::SequenceStart(..) => stack.push(opened(false)),
            Event::MappingEnd | Event::SequenceEnd => {
                stack.pop();
            }
            Event::Scalar(value, TScalarStyle::Plain, ..)
                if in_volumes
                    && value_of.is_some_and(|k| MODE_KEYS.contains(&k.as_str()))
                    && value.len() > 1
                    && value.starts_with('0')
                    && value.bytes().all(|b| (b'0'..=b'7').contains(&b)) =>
            {
                at.push(mark.index());
            }
            _ => {}
        }
    }
    if at.is_empty() {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + at.len());
    let mut next = at.into_iter().peekable();
    for (i, c) in text.chars().enumerate() {
        out.push(c);
        // After the leading `0` of a scalar that starts at char `i`.
        if next.next_if_eq(&i).is_some() {
            out.push('o');
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::yaml11_modes;

    #[test]
    fn only_plain_mode_values_under_volumes_are_rewritten() {
        let text = "volumes:\n- defaultMode: 0644\n  items: [{mode: 0400}, {mode: '0400'}, {path: 0644}]\n  mode: 420\n  x: [mode, 0644]\n  conf: |\n    mode: 0644\ndata: {mode: 0644}\n";
        assert_eq!(
            yaml11_modes(text),
            "volumes:\n- defaultMode: 0o644\n  items: [{mode: 0o400}, {mode: '0400'}, {path: 0644}]\n  mode: 420\n  x: [mode, 0644]\n  conf: |\n    mode: 0644\ndata: {mode: 0644}\n"
        );
        for unchanged in [
            "mode: 0644",
            "volumes: {mode: 0}",
            "volumes: {mode: 0o644}",
            "volumes: {mode: 0800}",
            "volumes: [",
            "é: 1\nvolumes: {mode: 08}",
        ] {
            assert!(
                matches!(yaml11_modes(unchanged), std::borrow::Cow::Borrowed(_)),
                "{unchanged}"
            );
        }
        assert_eq!(
            yaml11_modes("é: 1\nvolumes: [{mode: 07}]\n"),
            "é: 1\nvolumes: [{mode: 0o7}]\n"
        );
    }
}
