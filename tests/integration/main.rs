//! Integration tests: pods run end to end through the library and through
//! the `wasmpod` binary. One test binary, one module per concern. It is the
//! `integration` target of the `wasmpod-cli` package (`cli/Cargo.toml`), the
//! package that builds the binary: `cargo test -p wasmpod-cli --test
//! integration <filter>`.
//!
//! Timing: tests wait for conditions with generous deadlines and assert on
//! order (from timestamps guests write) rather than on durations, so they
//! hold on a loaded 2-core machine.

mod support;

mod adversarial;
mod cli;
mod compiling;
mod config;
mod conformance;
mod density;
mod examples;
mod exec;
mod exits;
mod first_slice;
mod grpc;
mod handle;
mod hooks;
mod http;
mod junit;
mod lifecycle;
mod manifests;
mod network;
mod podnet;
mod pool;
mod probes;
mod registry;
mod registry_auth;
mod registry_cli;
mod registry_compat;
mod registry_images;
mod registry_repull;
mod registry_server;
mod registry_token;
mod services;
mod services_host;
mod sockets;
mod stopping;
mod volumes;
mod workdir;
mod workloads;
