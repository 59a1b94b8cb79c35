//! Memory limits (`resources.limits.memory`): a `wasmtime::ResourceLimiter`
//! that counts every linear memory of one instance and kills the instance
//! the moment it would go past its limit — as the kernel's OOM killer ends
//! a container that exceeds its cgroup's memory, rather than failing the
//! allocation. The supervisor reports that end as `OOMKilled` (137).

use wasmtime::ResourceLimiter;

/// The most elements one table may grow to (`table.grow` past it returns
/// -1, as a failed growth does).
pub const MAX_TABLE_ELEMENTS: usize = 1_000_000;

/// The most bytes one linear memory may grow to (`memory.grow` past it
/// returns -1, as a failed growth does), whichever allocator the engine uses.
pub const MAX_MEMORY_BYTES: usize = 1 << 30;

/// The error a growth past the limit traps with; [`super::run`] tells an
/// OOM kill from other traps by it.
#[derive(Debug, thiserror::Error)]
#[error("memory limit of {limit} bytes exceeded (would use {wanted} bytes)")]
pub struct OutOfMemory {
    /// The limit, in bytes.
    pub limit: u64,
    /// What the instance would have used after the growth.
    pub wanted: u64,
}

/// Tracks an instance's linear memory against an optional limit.
#[derive(Debug, Default)]
pub struct MemoryLimiter {
    limit: Option<u64>,
    used: u64,
}

impl MemoryLimiter {
    /// A limiter for `limit` bytes (`None`: no limit beyond the engine's).
    pub fn new(limit: Option<u64>) -> Self {
        Self { limit, used: 0 }
    }
}

impl ResourceLimiter for MemoryLimiter {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > MAX_MEMORY_BYTES || maximum.is_some_and(|m| desired > m) {
            return Ok(false);
        }
        let wanted = self.used + (desired - current) as u64;
        if let Some(limit) = self.limit.filter(|l| wanted > *l) {
            return Err(OutOfMemory { limit, wanted }.into());
        }
        self.used = wanted;
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        // A table element is a host pointer or two: bound each table, as
        // memories are bound by the engine's maximum memory size.
        Ok(desired <= MAX_TABLE_ELEMENTS && maximum.is_none_or(|m| desired <= m))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn growth_past_the_limit_is_an_oom_kill() {
        let mut l = MemoryLimiter::new(Some(3 << 16));
        assert!(l.memory_growing(0, 1 << 16, None).unwrap());
        assert!(
            l.memory_growing(0, 1 << 16, None).unwrap(),
            "a second memory"
        );
        assert!(l.memory_growing(1 << 16, 2 << 16, None).unwrap());
        let err = l.memory_growing(2 << 16, 3 << 16, None).unwrap_err();
        let oom = err.downcast_ref::<OutOfMemory>().expect("an OOM kill");
        assert_eq!((oom.limit, oom.wanted), (3 << 16, 4 << 16));
        assert!(
            !l.memory_growing(0, 2, Some(1)).unwrap(),
            "past the memory's own maximum"
        );
        let mut unlimited = MemoryLimiter::new(None);
        assert!(unlimited.memory_growing(0, MAX_MEMORY_BYTES, None).unwrap());
        assert!(
            !unlimited
                .memory_growing(MAX_MEMORY_BYTES, MAX_MEMORY_BYTES + 1, None)
                .unwrap(),
            "past the most one memory may have"
        );
        assert!(
            unlimited
                .table_growing(0, MAX_TABLE_ELEMENTS, None)
                .unwrap()
        );
        assert!(
            !unlimited
                .table_growing(0, MAX_TABLE_ELEMENTS + 1, None)
                .unwrap()
        );
    }
}
