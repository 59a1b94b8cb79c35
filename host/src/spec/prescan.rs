//! Bounds checked before any YAML parser builds anything: the size of the text, how deeply
//! its collections nest, and how much its aliases expand.
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
//!   levels, so 64 leaves three times that, and stays under serde_yaml's own recursion limit
//!   (128) so that this check, with its line, speaks first. The parsers' time grows with the
//!   depth: a 190 KB list nested 95 deep took 3.2 s to refuse (debug build), 60 deep 1.4 s;
//! * aliases that expand to more than [`MAX_ALIAS_NODES`] nodes: serde_yaml expands every
//!   `*alias` into a copy of its anchored node, so ten anchors each listing the previous one
//!   ten times (a "billion laughs") made a 1 KB file take 18 s and 1.3 GB before its own
//!   repetition limit stopped it (found by the fuzz smoke). Kubernetes' YAML library refuses
//!   "excessive aliasing" too; 100 000 nodes is far more than any reuse of an `env` list or
//!   a probe needs.
//! * more than [`MAX_NODES`] nodes in all (250 000, aliases expanded): parsing keeps several
//!   copies of the tree (libyaml's events, serde_yaml's value, its JSON twin, the typed Pod,
//!   the line locator), about 500 bytes per node, so a 3 MiB list of 1.5 million one-letter
//!   items took 700 MB and 25 s (debug build). A large Pod has a few thousand nodes, and a
//!   `kubectl get -o yaml` with managed fields perhaps ten thousand.
//!
//! These are measured on yaml-rust2's event stream (so quotes, comments and block scalars are
//! understood: a `[` inside a string does not count), keeping only a stack of open
//! collections and one size per anchor, and the walk stops at the first event past a limit.
//! Its own cost is bounded too: yaml-rust2 keeps at most 255 flow levels open and then fails
//! ("recursion limit exceeded"). When yaml-rust2 cannot read the text (which libyaml might),
//! depth and aliases are unknown, so the text is only passed on if it has at most
//! [`MAX_NESTING`] opening brackets and nothing that looks like an alias; otherwise
//! yaml-rust2's error is the answer. What remains is the corner where yaml-rust2 reads a text
//! differently from libyaml (the two disagree on a few exotic constructs); the fuzz targets
//! exercise both on the same inputs.

use std::cell::Cell;
use std::collections::HashMap;
use std::rc::Rc;

use yaml_rust2::parser::{Event, Parser};

use super::SpecError;

/// The largest manifest read: the API server's request body limit (`MaxRequestBodyBytes`).
pub const MAX_DOCUMENT_BYTES: usize = 3 * 1024 * 1024;

/// The deepest nesting of YAML collections (block and flow together) accepted.
pub const MAX_NESTING: usize = 64;

/// The most nodes aliases may add to a file when expanded (`*a` stands for every node of
/// the node anchored `&a`).
pub const MAX_ALIAS_NODES: usize = 100_000;

/// The most YAML nodes (scalars and collections, aliases expanded) a file may hold.
pub const MAX_NODES: usize = 250_000;

/// Checks `text` against [`MAX_DOCUMENT_BYTES`], [`MAX_NESTING`], [`MAX_ALIAS_NODES`] and
/// [`MAX_NODES`].
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
    let at = |mark: yaml_rust2::scanner::Marker, message: String| SpecError::Yaml {
        document: 0,
        line: Some(mark.line()),
        column: Some(mark.col() + 1),
        message,
    };
    let too_deep = || {
        format!("collections nested more than {MAX_NESTING} levels deep; no Pod needs that many")
    };
    // yaml-rust2 reads a whole flow collection ahead before it returns the collection's first
    // event (its start might be a mapping key), so the limits below would only be checked
    // after all of it was tokenised: ~15 s and 330 MB for 3 MiB of `[[[…a,a,a,…`. The reader
    // counts flow indicators read since the last event and ends the text early past
    // MAX_NODES: a collection with that many entries is over the limit anyway.
    let read_ahead = Rc::new(Cell::new(0usize));
    let cut = Rc::new(Cell::new(false));
    let reader = {
        let (read_ahead, cut) = (read_ahead.clone(), cut.clone());
        text.chars().take_while(move |c| {
            if matches!(c, ',' | '[' | '{') {
                read_ahead.set(read_ahead.get() + 1);
                if read_ahead.get() > MAX_NODES {
                    cut.set(true);
                    return false;
                }
            }
            true
        })
    };
    let mut parser = Parser::new(reader);
    // Open collections: (anchor id, nodes so far including itself).
    let mut open: Vec<(usize, usize)> = Vec::new();
    // Expanded size of each anchored node, by anchor id.
    let mut sizes: HashMap<usize, usize> = HashMap::new();
    let mut alias_nodes = 0usize;
    let mut nodes = 0usize;
    let too_many =
        || format!("more than {MAX_NODES} YAML nodes (aliases expanded); no Pod needs that many");
    loop {
        let next = parser.next_token();
        if cut.get() {
            let mark = match &next {
                Ok((_, mark)) => *mark,
                Err(e) => *e.marker(),
            };
            return Err(at(mark, too_many()));
        }
        read_ahead.set(0);
        let (event, mark) = match next {
            Ok(next) => next,
            Err(e) => return unparsed(text, &e),
        };
        // A node just completed (anchor id, size), to add to its parent.
        let done = match event {
            Event::StreamEnd => return Ok(()),
            Event::MappingStart(anchor, _) | Event::SequenceStart(anchor, _) => {
                nodes += 1;
                if nodes > MAX_NODES {
                    return Err(at(mark, too_many()));
                }
                open.push((anchor, 1));
                if open.len() > MAX_NESTING {
                    return Err(at(mark, too_deep()));
                }
                continue;
            }
            Event::MappingEnd | Event::SequenceEnd => open.pop(),
            Event::Scalar(_, _, anchor, _) => {
                nodes += 1;
                if nodes > MAX_NODES {
                    return Err(at(mark, too_many()));
                }
                Some((anchor, 1))
            }
            Event::Alias(anchor) => {
                let size = sizes.get(&anchor).copied().unwrap_or(1);
                alias_nodes = alias_nodes.saturating_add(size);
                if alias_nodes > MAX_ALIAS_NODES {
                    return Err(at(
                        mark,
                        format!("aliases expand to more than {MAX_ALIAS_NODES} nodes"),
                    ));
                }
                nodes = nodes.saturating_add(size);
                if nodes > MAX_NODES {
                    return Err(at(mark, too_many()));
                }
                Some((0, size))
            }
            _ => None,
        };
        if let Some((anchor, size)) = done {
            if anchor > 0 {
                sizes.insert(anchor, size);
            }
            if let Some(parent) = open.last_mut() {
                parent.1 = parent.1.saturating_add(size);
            }
        }
    }
}

/// yaml-rust2 could not read the text, which libyaml (behind serde_yaml) might: the nesting
/// and the aliases past that point are unknown. Accept it only when they are bounded anyway
/// (few opening brackets, nothing that looks like an alias); otherwise refuse it with
/// yaml-rust2's error.
fn unparsed(text: &str, e: &yaml_rust2::ScanError) -> Result<(), SpecError> {
    let mark = e.marker();
    let at = |message: String| SpecError::Yaml {
        document: 0,
        line: Some(mark.line()),
        column: Some(mark.col() + 1),
        message,
    };
    // yaml-rust2 gives up past 255 open flow collections.
    if e.info() == "recursion limit exceeded" {
        return Err(at(format!(
            "collections nested more than {MAX_NESTING} levels deep; no Pod needs that many"
        )));
    }
    let bytes = text.as_bytes();
    let opening = bytes.iter().filter(|b| matches!(b, b'[' | b'{')).count();
    // An alias token: `*` after a separator, followed by an anchor character.
    let alias_like = bytes.windows(3).any(|w| {
        matches!(
            w[0],
            b' ' | b'\t' | b'\n' | b'[' | b'{' | b',' | b':' | b'-'
        ) && w[1] == b'*'
            && !w[2].is_ascii_whitespace()
            && !matches!(w[2], b',' | b'[' | b']' | b'{' | b'}')
    }) || bytes.first() == Some(&b'*');
    if opening <= MAX_NESTING && !alias_like {
        return Ok(());
    }
    Err(at(format!(
        "{} (the nesting and aliases of YAML that cannot be read cannot be bounded)",
        e.info()
    )))
}
