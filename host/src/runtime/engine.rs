//! The engines a runtime is built on: wasmtime's configuration (epoch
//! interruption, the instance allocator) and the guest executor's size. The
//! thread that advances the engines' epochs is `ticker`.

use std::sync::Arc;

use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

use super::{RuntimeConfig, RuntimeError, stacks};

/// The runtime's engine (`pool` `None`: instances allocated on demand), or
/// its pool's (see `pool`).
pub(super) fn build_engine(
    config: &RuntimeConfig,
    pool: Option<PoolingAllocationConfig>,
) -> Result<Engine, RuntimeError> {
    let engine_err = |e: wasmtime::Error| RuntimeError::Engine(e.into());
    let mut c = Config::new();
    c.epoch_interruption(true);
    c.wasm_component_model(true);
    c.parallel_compilation(config.parallel_compilation);
    // A guard region before each memory only guards against code generator
    // bugs; without it a memory is one mapping fewer (see `instances`).
    c.guard_before_linear_memory(false);
    if let Some(bytes) = config.memory_reservation {
        c.memory_reservation(bytes);
    }
    let pooling = pool.is_some();
    if let Some(pool) = pool {
        c.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    } else {
        // The pool has stack slots of its own; on demand, ended instances'
        // stacks are kept for the next ones (see `stacks`).
        c.with_host_stack(Arc::new(stacks::StackCache::default()));
    }
    let engine = Engine::new(&c).map_err(engine_err)?;
    if pooling {
        // The pool reserves its memory lazily; fail here, not at the first
        // instantiation, if the reservation is impossible.
        let probe = wasmtime::Module::new(&engine, "(module (memory 1))").map_err(engine_err)?;
        let mut store = wasmtime::Store::new(&engine, ());
        store.set_epoch_deadline(u64::MAX / 2);
        wasmtime::Instance::new(&mut store, &probe, &[]).map_err(engine_err)?;
    }
    Ok(engine)
}

/// The guest executor's threads: [`RuntimeConfig::guest_threads`], else one per CPU.
pub(super) fn guest_threads(config: &RuntimeConfig) -> usize {
    config
        .guest_threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()))
        .max(1)
}
