//! The guest programs wasmpod ships, as Wasm component bytes.
//!
//! They are built from `guests/` by this crate's build script (never
//! committed as binaries). The host maps the image names `busybox` and
//! `alpine` to [`TOOLBOX`], `nginx` to [`HTTPD`] and Kubernetes' e2e test
//! image `agnhost` to [`AGNHOST`]. [`HOSTILE_PATH`] is a test-only guest
//! that attacks its host (the adversarial tests run it from that path);
//! [`HTTP_HELLO_PATH`] is a test-only `wasi:http/proxy` component, and
//! [`WASIP2_HTTP_PROXY_PATH`] the `wasip2` crate's own example server.
//! [`ECHO_PATH`] is a plain `wasi:cli` command with no wasmpod imports, which
//! benchmarks run both as a pod and under `wasmtime run`.

include!(concat!(env!("OUT_DIR"), "/guests.rs"));
