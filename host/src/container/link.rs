//! Linking: the host interfaces every image is linked against, once per
//! engine — wasmtime-wasi's, `wasi:http` (types and outgoing-handler; see
//! [`super::http::outgoing`] for where requests may go), the pod network's
//! sockets, the open-file budget and wasmpod's termination signal.

use wasmtime::Engine;

use super::lifecycle;
use super::{P1State, P2State};

/// The linkers images are pre-linked with: one for components, one for
/// core modules.
pub(crate) struct Linkers {
    pub(crate) p2: wasmtime::component::Linker<P2State>,
    pub(crate) p1: wasmtime::Linker<P1State>,
}

/// Links the host interfaces.
pub(crate) fn build(engine: &Engine) -> wasmtime::Result<Linkers> {
    let mut p2 = wasmtime::component::Linker::new(engine);
    wasmtime_wasi::p2::add_to_linker_async(&mut p2)?;
    wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut p2)?;
    // Sockets are the pod's in-memory network, linked over wasmtime-wasi's.
    crate::sandbox::net::add_to_linker(&mut p2)?;
    // A budget of open files per instance, over wasmtime-wasi's `open-at`.
    crate::sandbox::handles::add_open_budget(&mut p2)?;
    lifecycle::termination::add_to_linker::<P2State, wasmtime::component::HasSelf<P2State>>(
        &mut p2,
        |s| s,
    )?;
    let mut p1 = wasmtime::Linker::new(engine);
    wasmtime_wasi::p1::add_to_linker_async(&mut p1, |s: &mut P1State| &mut s.ctx)?;
    // wasmtime-wasi refuses proc_exit(n) for n >= 126 (a trap); a process's
    // exit status is the low 8 bits of any exit(n), so report that.
    p1.allow_shadowing(true);
    p1.func_wrap(
        "wasi_snapshot_preview1",
        "proc_exit",
        |code: i32| -> wasmtime::Result<()> { Err(wasmtime_wasi::I32Exit(code & 0xff).into()) },
    )?;
    p1.allow_shadowing(false);
    Ok(Linkers { p2, p1 })
}
