//! Linking: the host interfaces every image is linked against, once per
//! engine — wasmtime-wasi's, `wasi:http` (types and outgoing-handler; see
//! [`super::http::outgoing`] for where requests may go), the pod network's
//! sockets, the open-file budget and wasmpod's termination signal.
//!
//! Each linker is built when the first image of its kind is linked (a
//! component, or a core module): building one defines a few hundred host
//! functions, which a `wasmpod run` of components only should not pay for
//! modules, nor before it has read its first image.

use std::sync::OnceLock;

use wasmtime::Engine;

use super::lifecycle;
use super::{P1State, P2State};

/// The linkers images are pre-linked with: one for components, one for
/// core modules, each built on first use.
pub(crate) struct Linkers {
    engine: Engine,
    p2: OnceLock<Result<wasmtime::component::Linker<P2State>, String>>,
    p1: OnceLock<Result<wasmtime::Linker<P1State>, String>>,
}

impl Linkers {
    /// Linkers for `engine`; nothing is built yet.
    pub(crate) fn new(engine: &Engine) -> Self {
        Self {
            engine: engine.clone(),
            p2: OnceLock::new(),
            p1: OnceLock::new(),
        }
    }

    /// Builds the components' linker on a thread of its own, so that it is
    /// ready (or nearly) when the first image has been read and loaded; a
    /// caller of [`p2`](Self::p2) meanwhile waits for it.
    pub(crate) fn prepare_in_background(self: &std::sync::Arc<Self>) {
        let linkers = self.clone();
        let spawned = std::thread::Builder::new()
            .name("wasmpod-link".into())
            .spawn(move || {
                let _ = linkers.p2();
            });
        if spawned.is_err() {
            tracing::debug!("no thread to build the linker ahead; it is built on first use");
        }
    }

    /// The components' linker. `Err` (wasmtime's message) only if the host's own
    /// definitions clash, which is a bug.
    pub(crate) fn p2(&self) -> wasmtime::Result<&wasmtime::component::Linker<P2State>> {
        self.p2
            .get_or_init(|| build_p2(&self.engine).map_err(|e| format!("{e:#}")))
            .as_ref()
            .map_err(|e| wasmtime::Error::msg(e.clone()))
    }

    /// The core modules' linker (wasip1); `Err` as for [`p2`](Self::p2).
    pub(crate) fn p1(&self) -> wasmtime::Result<&wasmtime::Linker<P1State>> {
        self.p1
            .get_or_init(|| build_p1(&self.engine).map_err(|e| format!("{e:#}")))
            .as_ref()
            .map_err(|e| wasmtime::Error::msg(e.clone()))
    }
}

fn build_p2(engine: &Engine) -> wasmtime::Result<wasmtime::component::Linker<P2State>> {
    let mut p2 = wasmtime::component::Linker::new(engine);
    wasmtime_wasi::p2::add_to_linker_async(&mut p2)?;
    wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut p2)?;
    // Sockets are the pod's in-memory network, linked over wasmtime-wasi's.
    crate::sandbox::net::add_to_linker(&mut p2)?;
    // A budget of open files per instance, over wasmtime-wasi's `open-at`.
    crate::sandbox::handles::add_open_budget(&mut p2)?;
    lifecycle::add_to_linker(&mut p2, P2State::termination_view)?;
    Ok(p2)
}

fn build_p1(engine: &Engine) -> wasmtime::Result<wasmtime::Linker<P1State>> {
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
    Ok(p1)
}
