//! The engine a runtime is built on: wasmtime's configuration (epoch
//! interruption, the instance allocator and its pool), the guest executor's
//! size, and the thread that advances the epoch.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

use super::{RuntimeConfig, RuntimeError, stacks};

pub(super) fn build_engine(config: &RuntimeConfig, pooling: bool) -> Result<Engine, RuntimeError> {
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
    if pooling {
        c.allocation_strategy(InstanceAllocationStrategy::Pooling(pool_config(config)));
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

/// How much of a pooled memory or table is kept resident for its slot's next instance.
const POOL_KEEP_RESIDENT: usize = 2 << 20;

/// The pool for [`RuntimeConfig::max_instances`] instances: a core
/// instance, memory and table or two per component instance on average
/// (the built-in images have one of each), up to the per-component caps.
fn pool_config(config: &RuntimeConfig) -> PoolingAllocationConfig {
    // An instance's slot is released when its exit is known and its memory is freed
    // just after, on its guest thread (`container::Launch::held`): room for one such
    // instance per guest thread.
    let n = config
        .max_instances
        .max(1)
        .saturating_add(guest_threads(config));
    let n = u32::try_from(n).unwrap_or(u32::MAX);
    let max_memory = config.memory_reservation.unwrap_or(1 << 30).min(1 << 30);
    let mut pool = PoolingAllocationConfig::new();
    pool.total_component_instances(n)
        .total_core_instances(n.saturating_mul(4))
        .total_memories(n.saturating_mul(2))
        .total_tables(n.saturating_mul(2))
        .total_stacks(n)
        .max_core_instances_per_component(32)
        .max_memories_per_component(8)
        .max_tables_per_component(16)
        .max_memory_size(usize::try_from(max_memory).unwrap_or(1 << 30))
        // A freed slot is made ready for its next instance by writing back the pages
        // its last one touched (found with the kernel's PAGEMAP_SCAN where it has it,
        // Linux 6.7 and later), up to this much, rather than by dropping them: the
        // next instance takes no page faults there, and no other thread of the process
        // has its TLB flushed. Those pages stay resident while the slot is free.
        .linear_memory_keep_resident(POOL_KEEP_RESIDENT)
        .table_keep_resident(POOL_KEEP_RESIDENT)
        .pagemap_scan(wasmtime::Enabled::Auto);
    pool
}

/// The guest executor's threads: [`RuntimeConfig::guest_threads`], else one per CPU.
pub(super) fn guest_threads(config: &RuntimeConfig) -> usize {
    config
        .guest_threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()))
        .max(1)
}

/// Advances the engine's epoch every `tick` until the runtime is dropped.
pub(super) fn spawn_ticker(engine: wasmtime::EngineWeak, tick: Duration, stop: Arc<AtomicBool>) {
    std::thread::Builder::new()
        .name("wasmpod-epoch".into())
        .spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                std::thread::sleep(tick);
                match engine.upgrade() {
                    Some(engine) => engine.increment_epoch(),
                    None => break,
                }
            }
        })
        .expect("failed to spawn the epoch ticker thread");
}
