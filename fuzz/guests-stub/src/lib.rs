//! Empty stand-ins for the built-in images (see Cargo.toml).

/// The toolbox (busybox, alpine): not needed to plan a pod.
pub const TOOLBOX: &[u8] = &[];
/// The HTTP server (nginx).
pub const HTTPD: &[u8] = &[];
/// agnhost.
pub const AGNHOST: &[u8] = &[];
