//! Bounds checked before any YAML parser builds anything: the size of the text and how deeply
//! its collections nest.
//!
//! Both parsers `spec` uses (libyaml behind serde_yaml, and yaml-rust2 in `locate.rs`) spend
//! time proportional to *tokens × open flow collections*: for every token their scanners walk
//! the stack of possible simple keys, one per open `[` or `{`. 200 KB of `[[[[…` kept libyaml
//! busy for almost two minutes. So, like the API server, we refuse what no real Pod needs:
//!
//! * more than [`MAX_DOCUMENT_BYTES`] (3 MiB, the API server's limit on a request body);
//! * collections nested more than [`MAX_NESTING`] deep (block and flow together). The deepest
//!   paths of a Pod — `spec.affinity.podAntiAffinity.preferredDuringSchedulingIgnoredDuringExecution[].podAffinityTerm.labelSelector.matchExpressions[].values[]`,
//!   or `metadata.managedFields[].fieldsV1` in `kubectl get -o yaml` output — are about 12 to 20
//!   levels, so 100 leaves five times that, and stays under serde_yaml's own recursion limit
//!   (128) so that this check, with its line, speaks first.
//!
//! The depth is measured with yaml-rust2's tokenizer (not its parser), so quotes, comments and
//! block scalars are understood and a `[` inside a string does not count. The walk stops at
//! the first token past the limit. Its cost is bounded too: yaml-rust2 keeps at most 255 flow
//! levels open and then fails ("recursion limit exceeded"). When the tokenizer fails (text
//! yaml-rust2 cannot read, which libyaml might), the depth is not known, so the text is only
//! accepted if it has no more than [`MAX_NESTING`] opening brackets at all; otherwise the
//! tokenizer's error is the answer.

use yaml_rust2::scanner::{Scanner, TokenType};

use super::SpecError;

/// The largest manifest read: the API server's request body limit (`MaxRequestBodyBytes`).
pub const MAX_DOCUMENT_BYTES: usize = 3 * 1024 * 1024;

/// The deepest nesting of YAML collections (block and flow together) accepted.
pub const MAX_NESTING: usize = 100;

/// Checks `text` against [`MAX_DOCUMENT_BYTES`] and [`MAX_NESTING`].
pub(crate) fn check(text: &str) -> Result<(), SpecError> {
    if text.len() > MAX_DOCUMENT_BYTES {
        return Err(SpecError::Yaml {
            document: 0,
            line: None,
            column: None,
            message: format!(
                "the manifest is {} bytes; the most accepted is {MAX_DOCUMENT_BYTES} bytes (3 MiB, the Kubernetes API server's request size limit)",
                text.len()
            ),
        });
    }
    let too_deep = |line: usize, column: usize| SpecError::Yaml {
        document: 0,
        line: Some(line),
        column: Some(column),
        message: format!(
            "collections nested more than {MAX_NESTING} levels deep; no Pod needs that many"
        ),
    };
    let mut scanner = Scanner::new(text.chars());
    let mut block = 0usize;
    let mut flow = 0usize;
    loop {
        match scanner.next_token() {
            Ok(Some(token)) => {
                match token.1 {
                    TokenType::BlockMappingStart | TokenType::BlockSequenceStart => block += 1,
                    TokenType::BlockEnd => block = block.saturating_sub(1),
                    TokenType::FlowMappingStart | TokenType::FlowSequenceStart => flow += 1,
                    TokenType::FlowMappingEnd | TokenType::FlowSequenceEnd => {
                        flow = flow.saturating_sub(1);
                    }
                    TokenType::StreamEnd => return Ok(()),
                    _ => {}
                }
                if block + flow > MAX_NESTING {
                    let mark = token.0;
                    return Err(too_deep(mark.line(), mark.col() + 1));
                }
            }
            Ok(None) => return Ok(()),
            Err(e) => {
                let mark = e.marker();
                // yaml-rust2 gives up past 255 open flow collections.
                if e.info() == "recursion limit exceeded" {
                    return Err(too_deep(mark.line(), mark.col() + 1));
                }
                // The depth is unknown past this point; bound it by the brackets left.
                let opening = text.bytes().filter(|b| matches!(b, b'[' | b'{')).count();
                if opening <= MAX_NESTING {
                    return Ok(());
                }
                return Err(SpecError::Yaml {
                    document: 0,
                    line: Some(mark.line()),
                    column: Some(mark.col() + 1),
                    message: format!(
                        "{} (and with {opening} opening brackets the nesting cannot be bounded)",
                        e.info()
                    ),
                });
            }
        }
    }
}
