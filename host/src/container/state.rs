//! Store data for one container instance.

use std::sync::Arc;

use wasmtime::component::ResourceTable;
use wasmtime_wasi::p1::WasiP1Ctx;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

use super::http::outgoing::Outgoing;
use super::lifecycle::{SharedSignal, TerminationCtxView};
use super::limits::MemoryLimiter;
use crate::sandbox::net::{PodNetHost, PodNetView, PodNetwork};

/// Store data of a wasip2 component instance.
pub struct P2State {
    pub(crate) ctx: WasiCtx,
    pub(crate) table: ResourceTable,
    pub(crate) termination: SharedSignal,
    /// The pod's network (its `wasi:sockets`).
    pub(crate) network: Arc<PodNetwork>,
    /// `resources.limits.memory`.
    pub(crate) limiter: MemoryLimiter,
    /// `wasi:http` state (field limits).
    pub(crate) http: WasiHttpCtx,
    /// Where outgoing `wasi:http` requests may go.
    pub(crate) outgoing: Outgoing,
}

impl WasiHttpView for P2State {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: &mut self.outgoing,
        }
    }
}

impl WasiView for P2State {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.ctx,
            table: &mut self.table,
        }
    }
}

impl P2State {
    /// Its `wasmpod:lifecycle/termination` side.
    pub(crate) fn termination_view(&mut self) -> TerminationCtxView<'_> {
        TerminationCtxView {
            signal: &self.termination,
            table: &mut self.table,
        }
    }
}

impl PodNetHost for P2State {
    fn pod_net(&mut self) -> PodNetView<'_> {
        PodNetView {
            table: &mut self.table,
            net: &self.network,
        }
    }
}

/// Store data of a wasip1 core module instance.
pub struct P1State {
    pub(crate) ctx: WasiP1Ctx,
    /// `resources.limits.memory`.
    pub(crate) limiter: MemoryLimiter,
}
