//! Error reports: an error and its causes on one line, as the kubelet writes a status
//! message and `anyhow` prints `{:#}`.

use std::error::Error;

/// `error: cause: cause…`, each text once (a cause whose text the previous one already
/// contains is left out).
pub(crate) fn chain(e: &(dyn Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut next = Some(e);
    while let Some(e) = next {
        let text = e.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        next = e.source();
    }
    parts.join(": ")
}

#[cfg(test)]
mod tests {
    use super::chain;

    #[derive(Debug, thiserror::Error)]
    #[error("volume \"data\": failed to create")]
    struct Outer(#[source] std::io::Error);

    #[test]
    fn joins_the_causes() {
        let e = Outer(std::io::Error::from(std::io::ErrorKind::PermissionDenied));
        assert_eq!(
            chain(&e),
            "volume \"data\": failed to create: permission denied"
        );
    }
}
