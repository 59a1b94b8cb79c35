//! Field path → line lookup, built from yaml-rust2's marked events.
//!
//! serde (and so `k8s-openapi`'s `Pod`) forgets where a value came from, but a diagnostic
//! that says *which line* to fix is worth a lot more than a bare field path. So the text is
//! walked a second time with yaml-rust2's low-level event parser, which reports a position
//! for every node, and a small tree of positions is kept per YAML document:
//!
//! * a mapping entry is located at its **key** (`spec.containers[0].image` points at the
//!   `image:` line, also when the value is a block on the following lines);
//! * a sequence entry is located at the **item** (`spec.containers[1]` points at its `-` line,
//!   `command[2]` at the third element of a flow list `['sh', '-c', 'x']`).
//!
//! The tree stores one segment per node (not one full path string per node) so that its size
//! stays linear in the size of the text, whatever the nesting. Lookups fall back to the
//! nearest located ancestor: a missing field (`Required value`) points at the object that
//! lacks it, and values reached through an alias (`*anchor`) point at the alias.
//!
//! This is best effort by design: yaml-rust2 and libyaml (behind serde_yaml) do not agree on
//! every corner of YAML, so when yaml-rust2 stops on a construct libyaml accepts, the
//! documents after that point simply have no positions (`line` is `None`), never a wrong one.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::Arc;

use yaml_rust2::parser::{Event, Parser};
use yaml_rust2::scanner::Marker;

/// One step of a field path: a mapping key or a sequence index.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum Seg {
    /// `.name`
    Key(String),
    /// `[3]`
    Index(usize),
}

impl Seg {
    pub(crate) fn key(key: &str) -> Seg {
        Seg::Key(key.to_owned())
    }
}

/// Renders segments in Kubernetes' style: `spec.containers[0].image`. Keys that would be
/// ambiguous in that syntax (empty, or containing `.`, `[`, `]`) are shown as `[key]`, the way
/// Kubernetes shows map keys (`metadata.labels[app.kubernetes.io/name]`).
pub(crate) fn display_path(segs: &[Seg]) -> String {
    let mut out = String::new();
    for seg in segs {
        match seg {
            Seg::Index(i) => {
                let _ = write!(out, "[{i}]");
            }
            Seg::Key(k) if k.is_empty() || k.contains(['.', '[', ']']) => {
                let _ = write!(out, "[{k}]");
            }
            Seg::Key(k) => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(k);
            }
        }
    }
    out
}

/// Parses a path written by [`display_path`] back into segments. Never fails: whatever
/// cannot be read is kept as a key, so a lookup just finds nothing (or an ancestor).
pub(crate) fn parse_path(path: &str) -> Vec<Seg> {
    let mut segs = Vec::new();
    let mut rest = path;
    while !rest.is_empty() {
        if let Some(after) = rest.strip_prefix('[') {
            let end = after.find(']').unwrap_or(after.len());
            let inner = &after[..end];
            segs.push(match inner.parse::<usize>() {
                Ok(i) => Seg::Index(i),
                Err(_) => Seg::key(inner),
            });
            rest = after.get(end + 1..).unwrap_or("");
        } else {
            let rest_trimmed = rest.strip_prefix('.').unwrap_or(rest);
            let end = rest_trimmed.find(['.', '[']).unwrap_or(rest_trimmed.len());
            if end > 0 {
                segs.push(Seg::key(&rest_trimmed[..end]));
            }
            rest = &rest_trimmed[end..];
        }
    }
    segs
}

/// A 1-based (line, column) position in the whole file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Pos {
    pub(crate) line: usize,
    pub(crate) column: usize,
}

impl From<Marker> for Pos {
    fn from(m: Marker) -> Self {
        // yaml-rust2 lines are 1-based, columns 0-based.
        Pos {
            line: m.line(),
            column: m.col() + 1,
        }
    }
}

/// Positions of the nodes of one YAML document.
#[derive(Debug, Default)]
struct Tree {
    /// Position of each node; node 0 is the document root.
    pos: Vec<Option<Pos>>,
    /// (parent node, segment) → child node.
    children: HashMap<(usize, Seg), usize>,
}

/// Positions of the nodes of one YAML document, seen from one node of it: the document's
/// root, or an item of a `kind: List` (see [`Locator::at`]), so that paths are relative to
/// the object they belong to. Clones share the tree.
#[derive(Debug, Clone, Default)]
pub(crate) struct Locator {
    tree: Arc<Tree>,
    /// The node paths start from.
    base: usize,
}

impl Locator {
    /// Position of the root node (the first content line of the document or list item).
    pub(crate) fn root(&self) -> Option<Pos> {
        self.tree.pos.get(self.base).copied().flatten()
    }

    /// The node at exactly `segs`, if it was located.
    fn node(&self, segs: &[Seg]) -> Option<usize> {
        let mut node = self.base;
        for seg in segs {
            node = *self.tree.children.get(&(node, seg.clone()))?;
        }
        Some(node)
    }

    /// The same document seen from `segs` (e.g. `items[2]` of a List). When that node was
    /// not located (reached through an alias), every lookup gives its nearest located
    /// ancestor's position.
    pub(crate) fn at(&self, segs: &[Seg]) -> Locator {
        match self.node(segs) {
            Some(base) => Locator {
                tree: self.tree.clone(),
                base,
            },
            None => Locator {
                tree: Arc::new(Tree {
                    pos: vec![self.find(segs)],
                    children: HashMap::new(),
                }),
                base: 0,
            },
        }
    }

    /// Position of `segs`, or of its nearest located ancestor.
    pub(crate) fn find(&self, segs: &[Seg]) -> Option<Pos> {
        let mut node = self.base;
        let mut best = self.root();
        for seg in segs {
            match self.tree.children.get(&(node, seg.clone())) {
                Some(&child) => {
                    node = child;
                    best = self.tree.pos[child].or(best);
                }
                None => break,
            }
        }
        best
    }

    /// Position of exactly `segs`, without falling back to an ancestor.
    pub(crate) fn find_exact(&self, segs: &[Seg]) -> Option<Pos> {
        self.tree.pos.get(self.node(segs)?).copied().flatten()
    }
}

impl Tree {
    fn child(&mut self, parent: usize, seg: Seg, pos: Pos) -> usize {
        let next = self.pos.len();
        let id = *self.children.entry((parent, seg)).or_insert(next);
        if id == next {
            self.pos.push(Some(pos)); // first occurrence wins for duplicate keys
        }
        id
    }
}

/// Where the parser is inside a collection.
enum Frame {
    /// In a mapping: `pending` is `None` while waiting for a key, then `Some(value's node)`
    /// (`Some(None)` if the key could not be located, e.g. a complex key).
    Map {
        node: Option<usize>,
        pending: Option<Option<usize>>,
    },
    /// In a sequence: the index the next item gets.
    Seq { node: Option<usize>, next: usize },
    /// Inside a complex (non-scalar) mapping key, which has no path; counts nesting.
    Skip { depth: usize },
}

#[derive(Default)]
struct Builder {
    loc: Tree,
    stack: Vec<Frame>,
}

impl Builder {
    fn new() -> Self {
        let mut b = Builder::default();
        b.loc.pos.push(None); // root
        b
    }

    fn event(&mut self, ev: Event, mark: Marker) {
        let pos = Pos::from(mark);
        let (is_map, is_seq) = match &ev {
            Event::MappingStart(..) => (true, false),
            Event::SequenceStart(..) => (false, true),
            Event::MappingEnd | Event::SequenceEnd => {
                self.end();
                return;
            }
            Event::Scalar(..) | Event::Alias(..) => (false, false),
            _ => return,
        };
        if let Some(Frame::Skip { depth }) = self.stack.last_mut() {
            if is_map || is_seq {
                *depth += 1;
            }
            return;
        }
        // Find the node this event is, or handle it as a mapping key.
        let node: Option<usize> = match self.stack.last_mut() {
            None => {
                if self.loc.pos[0].is_none() {
                    self.loc.pos[0] = Some(pos);
                }
                Some(0)
            }
            Some(Frame::Map { node, pending }) => match pending.take() {
                Some(value_node) => value_node,
                None => {
                    // This event is a key.
                    let key_node = match (&ev, *node) {
                        (Event::Scalar(key, ..), Some(parent)) => {
                            Some(self.loc.child(parent, Seg::Key(key.clone()), pos))
                        }
                        _ => None,
                    };
                    *pending = Some(key_node);
                    if is_map || is_seq {
                        self.stack.push(Frame::Skip { depth: 1 });
                    }
                    return;
                }
            },
            Some(Frame::Seq { node, next }) => {
                let index = *next;
                *next += 1;
                node.map(|parent| self.loc.child(parent, Seg::Index(index), pos))
            }
            Some(Frame::Skip { .. }) => return, // handled above
        };
        if is_map {
            self.stack.push(Frame::Map {
                node,
                pending: None,
            });
        } else if is_seq {
            self.stack.push(Frame::Seq { node, next: 0 });
        }
    }

    fn end(&mut self) {
        match self.stack.last_mut() {
            Some(Frame::Skip { depth }) if *depth > 1 => *depth -= 1,
            Some(_) => {
                self.stack.pop();
            }
            None => {}
        }
    }
}

/// Builds one [`Locator`] per YAML document of `text`, in order. Stops quietly at the first
/// syntax error (serde_yaml reports syntax errors; this only adds positions).
pub(crate) fn locate_documents(text: &str) -> Vec<Locator> {
    let mut parser = Parser::new_from_str(text);
    let mut docs: Vec<Tree> = Vec::new();
    let mut current: Option<Builder> = None;
    while let Ok((ev, mark)) = parser.next_token() {
        match ev {
            Event::StreamEnd => break,
            Event::DocumentStart => {
                if let Some(done) = current.replace(Builder::new()) {
                    docs.push(done.loc);
                }
            }
            Event::DocumentEnd => {
                if let Some(done) = current.take() {
                    docs.push(done.loc);
                }
            }
            other => {
                if let Some(b) = current.as_mut() {
                    b.event(other, mark);
                }
            }
        }
    }
    if let Some(done) = current.take() {
        docs.push(done.loc);
    }
    docs.into_iter()
        .map(|tree| Locator {
            tree: Arc::new(tree),
            base: 0,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(loc: &Locator, path: &str) -> Option<usize> {
        loc.find_exact(&parse_path(path)).map(|p| p.line)
    }

    #[test]
    fn paths_round_trip() {
        for p in [
            "spec.containers[1].image",
            "metadata.labels[app.kubernetes.io/name]",
            "spec.volumes[2].hostPath.path",
            "",
        ] {
            assert_eq!(display_path(&parse_path(p)), p);
        }
        assert_eq!(
            parse_path("a[0][1].b"),
            vec![Seg::key("a"), Seg::Index(0), Seg::Index(1), Seg::key("b")]
        );
        // Garbage never panics.
        for p in ["[", "]", "..", "a[", "[x", ".[.]", "a]b"] {
            let _ = parse_path(p);
        }
    }

    #[test]
    fn block_flow_and_documents() {
        let text = "\
# leading comment
apiVersion: v1
spec:
  containers:
  - name: a
    command: ['sh', '-c',
      'x']
    env:
      - name: X
        value: y
  - &second {name: b, image: i}
  - *second
---
kind: ConfigMap
";
        let docs = locate_documents(text);
        assert_eq!(docs.len(), 2);
        let d = &docs[0];
        assert_eq!(d.root().map(|p| p.line), Some(2));
        assert_eq!(line(d, "apiVersion"), Some(2));
        assert_eq!(line(d, "spec.containers"), Some(4));
        assert_eq!(line(d, "spec.containers[0]"), Some(5));
        assert_eq!(line(d, "spec.containers[0].name"), Some(5));
        assert_eq!(line(d, "spec.containers[0].command[1]"), Some(6));
        assert_eq!(line(d, "spec.containers[0].command[2]"), Some(7));
        assert_eq!(line(d, "spec.containers[0].env[0].value"), Some(10));
        assert_eq!(line(d, "spec.containers[1].image"), Some(11));
        assert_eq!(line(d, "spec.containers[2]"), Some(12));
        // Through the alias: exact lookup fails, fallback points at the alias.
        assert_eq!(line(d, "spec.containers[2].image"), None);
        let p = parse_path("spec.containers[2].image");
        assert_eq!(d.find(&p).map(|p| p.line), Some(12));
        assert_eq!(docs[1].root().map(|p| p.line), Some(14));
        // Seen from a node, paths are relative to it.
        let second = d.at(&parse_path("spec.containers[1]"));
        assert_eq!(second.root().map(|p| p.line), Some(11));
        assert_eq!(line(&second, "image"), Some(11));
        assert_eq!(line(&second, "spec"), None);
        let aliased = d.at(&parse_path("spec.containers[2].env"));
        assert_eq!(aliased.find(&parse_path("x")).map(|p| p.line), Some(12));
        assert_eq!(line(&docs[1], "kind"), Some(14));
        // Column is 1-based.
        assert_eq!(d.find_exact(&parse_path("spec")).map(|p| p.column), Some(1));
    }

    #[test]
    fn complex_keys_and_errors_do_not_panic() {
        let docs = locate_documents("? [a, b]\n: v\nc: {? {x: 1} : 2, d: 3}\n");
        assert_eq!(docs.len(), 1);
        assert_eq!(line(&docs[0], "c.d"), Some(3));
        for text in [
            "", "---", "a: [", "\t- x", "- - - -", "{{{{", "&a *a", "!!x y",
        ] {
            let _ = locate_documents(text);
        }
        let deep = "[".repeat(50_000);
        let _ = locate_documents(&deep);
    }
}
