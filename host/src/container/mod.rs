//! One container instance: a fresh `Store` with its own WASI context,
//! instantiated from a pre-linked [`Image`], run to its exit.
//!
//! # Exit codes
//! * a wasip1 module's `proc_exit(n)`: `n & 0xff`, what a process's exit
//!   status shows of `exit(n)`;
//! * a wasip2 component returning from `wasi:cli/run`: `0` for `ok`, `1` for
//!   `err`; `wasi:cli/exit.exit-with-code(n)`: `n`;
//! * a trap (e.g. `unreachable`, out-of-bounds access): [`TRAP_EXIT_CODE`]
//!   (134, as `wasmtime run` and a process killed by SIGABRT report), with
//!   the trap text as the termination message;
//! * past its memory limit ([`limits`]): [`Exit::OomKilled`], 137;
//! * stopped by the supervisor: 143 (no termination handler, like SIGTERM) or
//!   137 (killed after the grace period, like SIGKILL). Those are decided by
//!   the supervisor, which aborts the future returned by [`run`].

pub(crate) mod content;
pub mod cpu;
pub mod http;
pub mod image;
pub mod lifecycle;
pub mod limits;
pub(crate) mod link;
mod state;

pub use image::{Image, ImageError};
pub use lifecycle::{SharedSignal, TerminationSignal};
pub use state::{P1State, P2State};

use std::sync::Arc;

use wasmtime::Store;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::{FsPerms, I32Exit, WasiCtxBuilder, WasiView};

use cpu::{CpuAccount, Meter, Metered};
use limits::{MemoryLimiter, OutOfMemory};

use crate::sandbox::handles::MAX_TABLE_ENTRIES;
use crate::sandbox::{OutputSink, PodNetwork, Preopen};

/// The exit code reported for a guest that trapped.
pub const TRAP_EXIT_CODE: i32 = 134;
/// The exit code of a guest stopped at once (it had no termination handler).
pub const TERMINATED_EXIT_CODE: i32 = 143;
/// The exit code of a guest killed after its grace period.
pub const KILLED_EXIT_CODE: i32 = 137;

/// How one instance ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Exit {
    /// The guest exited with this code.
    Code(i32),
    /// The guest trapped; the text says why.
    Trap(String),
    /// The instance could not be created (the message says why).
    StartError(String),
    /// The instance went past its memory limit and was killed.
    OomKilled(String),
}

impl Exit {
    /// The exit code Kubernetes would show.
    pub fn code(&self) -> i32 {
        match self {
            Exit::Code(c) => *c,
            Exit::Trap(_) => TRAP_EXIT_CODE,
            Exit::StartError(_) => 128,
            Exit::OomKilled(_) => KILLED_EXIT_CODE,
        }
    }
}

/// Everything one instance needs.
pub struct Launch {
    /// The compiled image.
    pub image: Image,
    /// argv (argv[0] included).
    pub argv: Vec<String>,
    /// Environment, in order.
    pub env: Vec<(String, String)>,
    /// Directories the guest sees.
    pub preopens: Vec<Preopen>,
    /// Guest stdout.
    pub stdout: OutputSink,
    /// Guest stderr.
    pub stderr: OutputSink,
    /// Termination signalling shared with the supervisor.
    pub termination: SharedSignal,
    /// The pod's network namespace.
    pub network: std::sync::Arc<PodNetwork>,
    /// `resources.limits.memory` in bytes.
    pub memory_limit: Option<u64>,
    /// The container's CPU account (`resources.limits.cpu`/`requests.cpu`),
    /// shared with its exec probes and hooks; `None`: unmetered.
    pub cpu: Option<Arc<CpuAccount>>,
    /// Hosts outside the pod its outgoing `wasi:http` requests may reach.
    pub outbound: Arc<[http::AllowedHost]>,
    /// The export a wasip1 module runs instead of `_start` (a compat image's `path#func`).
    pub entry_func: Option<String>,
    /// Told once the instance is instantiated and its entry point called: the
    /// container is running (what a postStart hook waits for).
    pub running: Option<tokio::sync::oneshot::Sender<()>>,
    /// Told the exit as soon as the guest's entry point has returned, before the
    /// instance's memory is freed: the exit is known (and the container can be
    /// restarted, or its pod end) while that goes on. Unset when the instance is
    /// killed, or could not start: the future's own output says how it ended.
    pub exited: Option<tokio::sync::oneshot::Sender<Exit>>,
    /// What the instance holds of its pod's and its runtime's instance limits:
    /// released when [`Launch::exited`] is told (else when the instance is gone).
    /// At most one instance per guest thread is still being freed after it.
    pub held: Option<Box<dyn Send + Sync>>,
}

impl Launch {
    /// Releases [`Launch::held`] and tells [`Launch::exited`] how the instance
    /// ended; what follows is only freeing it.
    fn announce_exit(&mut self, exit: &Exit) {
        self.held = None;
        if let Some(tx) = self.exited.take() {
            let _ = tx.send(exit.clone());
        }
    }

    /// Tells [`Launch::running`] (once) that the instance runs.
    pub(crate) fn announce_running(&mut self) {
        if let Some(tx) = self.running.take() {
            let _ = tx.send(());
        }
    }
}

/// Runs one instance to its exit, its time charged to its CPU account.
/// Cancel-safe: dropping the future kills the guest (at its next epoch
/// yield or host call).
pub fn run(engine: wasmtime::Engine, launch: Launch) -> impl Future<Output = Exit> + Send {
    let meter = launch.cpu.clone().map(Meter::new);
    Metered::new(run_metered(engine, launch, meter.clone()), meter)
}

/// Makes a store yield at every epoch tick, or as its meter decides.
pub(crate) fn set_yield<T: 'static>(store: &mut Store<T>, meter: Option<Arc<Meter>>) {
    match meter {
        Some(meter) => {
            store.epoch_deadline_callback(move |_| Ok(meter.on_tick()));
            store.set_epoch_deadline(1);
        }
        None => {
            store.epoch_deadline_async_yield_and_update(1);
            // A new store's deadline is epoch 0, already past: without this, every
            // instance would yield at its first function's entry.
            store.set_epoch_deadline(1);
        }
    }
}

/// The WASI context of an instance of `launch`: its argv, environment,
/// stdio, working directory and directories.
///
/// # Errors
/// The message of a directory that cannot be mounted.
pub(crate) fn wasi_builder(launch: &Launch) -> Result<WasiCtxBuilder, String> {
    let mut builder = WasiCtxBuilder::new();
    builder
        .args(&launch.argv)
        .envs(&launch.env)
        .stdout(launch.stdout.clone())
        .stderr(launch.stderr.clone());
    // `workingDir` (`/` when unset) is `wasi:cli/environment.initial-cwd`;
    // wasi-libc ignores it and resolves relative paths through the `.`
    // preopen the sandbox adds (see `sandbox::fs`).
    let cwd = launch.preopens.iter().find_map(|p| p.cwd.as_deref());
    builder.initial_cwd(cwd.unwrap_or("/"));
    // No host sockets: a component's `wasi:sockets` is its pod's in-memory
    // network (`launch.network`); wasip1 has no sockets.
    for p in &launch.preopens {
        let perms = if p.read_only {
            FsPerms::ReadOnly
        } else {
            FsPerms::ReadWrite
        };
        // The directory the sandbox opened (not its path, which a guest may
        // have swapped for a symlink since); `launch` keeps it open.
        if let Err(e) = builder.preopened_dir(p.wasi_path(), &p.guest, perms) {
            return Err(format!("failed to mount {:?} at {}: {e}", p.host, p.guest));
        }
    }
    Ok(builder)
}

/// The store data of one component instance of `launch`.
pub(crate) fn p2_state(launch: &Launch, builder: &mut WasiCtxBuilder) -> P2State {
    let mut table = ResourceTable::new();
    table.set_max_capacity(MAX_TABLE_ENTRIES);
    P2State {
        ctx: builder.build(),
        table,
        termination: launch.termination.clone(),
        network: launch.network.clone(),
        limiter: MemoryLimiter::new(launch.memory_limit),
        http: wasmtime_wasi_http::WasiHttpCtx::new(),
        outgoing: http::outgoing::Outgoing::new(launch.network.clone(), launch.outbound.clone()),
    }
}

async fn run_metered(
    engine: wasmtime::Engine,
    mut launch: Launch,
    meter: Option<Arc<Meter>>,
) -> Exit {
    step!("guest");
    let mut builder = match wasi_builder(&launch) {
        Ok(b) => b,
        Err(e) => return Exit::StartError(e),
    };
    // The builder opened each directory again: the instance needs no more
    // of the sandbox's handles (an idle container holds one descriptor per
    // preopen, not two).
    launch.preopens = Vec::new();
    step!("wasi");
    match launch.image.clone() {
        // Served by `http::serve`, which the launcher runs instead.
        Image::Http(_) => {
            Exit::StartError("a wasi:http component is served, not run as a command".into())
        }
        Image::Component(pre) => {
            let state = p2_state(&launch, &mut builder);
            let mut store = Store::new(&engine, state);
            store.limiter(|s| &mut s.limiter);
            set_yield(&mut store, meter);
            let command = match pre.instantiate_async(&mut store).await {
                Ok(c) => c,
                Err(e) => return start_error(e),
            };
            step!("instantiated");
            launch.announce_running();
            let exit = match command.wasi_cli_run().call_run(&mut store).await {
                Ok(Ok(())) => Exit::Code(0),
                Ok(Err(())) => Exit::Code(1),
                Err(e) => exit_from_error(e),
            };
            step!("exited");
            launch.announce_exit(&exit);
            exit
            // The store (the instance's memory) is freed here.
        }
        Image::Module(pre) => {
            let mut ctx = builder.build_p1();
            ctx.ctx().table.set_max_capacity(MAX_TABLE_ENTRIES);
            let mut store = Store::new(
                &engine,
                P1State {
                    ctx,
                    limiter: MemoryLimiter::new(launch.memory_limit),
                },
            );
            store.limiter(|s| &mut s.limiter);
            set_yield(&mut store, meter);
            let instance = match pre.instantiate_async(&mut store).await {
                Ok(i) => i,
                Err(e) => return start_error(e),
            };
            let func = launch.entry_func.as_deref().unwrap_or("_start");
            let start = match instance.get_typed_func::<(), ()>(&mut store, func) {
                Ok(f) => f,
                Err(e) => return Exit::StartError(image::error_text(&e)),
            };
            step!("instantiated");
            launch.announce_running();
            let exit = match start.call_async(&mut store, ()).await {
                Ok(()) => Exit::Code(0),
                Err(e) => exit_from_error(e),
            };
            step!("exited");
            launch.announce_exit(&exit);
            exit
        }
    }
}

pub(crate) fn exit_from_error(e: wasmtime::Error) -> Exit {
    if let Some(I32Exit(code)) = e.downcast_ref::<I32Exit>() {
        // A process's exit status keeps the low 8 bits of exit(n).
        return Exit::Code(code & 0xff);
    }
    match e.downcast_ref::<OutOfMemory>() {
        Some(oom) => Exit::OomKilled(oom.to_string()),
        None => Exit::Trap(image::error_text(&e)),
    }
}

/// Instantiation failed: a memory limit below the image's initial memory
/// is an OOM kill, as a container that exceeds its limit while starting.
pub(crate) fn start_error(e: wasmtime::Error) -> Exit {
    match e.downcast_ref::<OutOfMemory>() {
        Some(oom) => Exit::OomKilled(oom.to_string()),
        None => Exit::StartError(image::error_text(&e)),
    }
}
