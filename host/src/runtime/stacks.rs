//! Fiber stacks kept for reuse.
//!
//! Every instance runs on its own fiber stack (guests run asynchronously).
//! wasmtime's on-demand allocator maps a fresh stack for each instance and
//! unmaps it when the instance ends: an `mmap`, an `mprotect` and a `munmap`
//! (with a TLB shootdown on every CPU the process ran on) per container
//! start, and page faults for every stack page it touches. [`StackCache`]
//! keeps up to [`MAX_CACHED`] stacks of ended instances and hands them to the
//! next ones, as the pooling allocator does with its stack slots.
//!
//! A reused stack still holds what its last instance left on it. A guest
//! cannot see it (Wasm code has no address into the host's stacks); when the
//! engine asks for zeroed stacks (`async_stack_zeroing`), a reused one is
//! zeroed first.
//!
//! At most [`MAX_CACHED`] stacks are kept: at most that many × the stack size
//! of resident memory (the pages the instances touched) stay with the
//! process when no instance runs.

use std::ops::Range;
use std::sync::{Arc, Mutex};

use rustix::mm::{
    Advice, MapFlags, MprotectFlags, ProtFlags, madvise, mmap_anonymous, mprotect, munmap,
};
use wasmtime::{StackCreator, StackMemory};

use crate::sync::lock;

/// The most stacks kept for reuse.
pub(crate) const MAX_CACHED: usize = 32;

/// A [`StackCreator`] that reuses the stacks of ended instances.
#[derive(Clone, Default)]
pub(crate) struct StackCache {
    free: Arc<Mutex<Vec<Region>>>,
}

/// One mapping: a guard page at the bottom, the stack above it.
struct Region {
    base: usize,
    /// The whole mapping, guard page included.
    len: usize,
    guard: usize,
}

impl Region {
    fn map(size: usize) -> Result<Region, wasmtime::Error> {
        let guard = rustix::param::page_size();
        let size = size.div_ceil(guard) * guard;
        let len = size + guard;
        // SAFETY: a fresh anonymous mapping, owned by the Region until unmapped.
        let base = unsafe {
            mmap_anonymous(
                std::ptr::null_mut(),
                len,
                ProtFlags::empty(),
                MapFlags::PRIVATE,
            )
        }
        .map_err(|e| wasmtime::Error::msg(format!("failed to map a fiber stack: {e}")))?;
        let region = Region {
            base: base as usize,
            len,
            guard,
        };
        // SAFETY: the range lies inside the mapping just made.
        unsafe {
            mprotect(
                region.stack_ptr(),
                size,
                MprotectFlags::READ | MprotectFlags::WRITE,
            )
        }
        .map_err(|e| wasmtime::Error::msg(format!("failed to map a fiber stack: {e}")))?;
        Ok(region)
    }

    fn stack_ptr(&self) -> *mut std::ffi::c_void {
        (self.base + self.guard) as *mut std::ffi::c_void
    }

    fn stack_len(&self) -> usize {
        self.len - self.guard
    }
}

impl Drop for Region {
    fn drop(&mut self) {
        // SAFETY: the mapping is owned by this Region and no stack uses it any more.
        if let Err(e) = unsafe { munmap(self.base as *mut std::ffi::c_void, self.len) } {
            tracing::warn!("failed to unmap a fiber stack: {e}");
        }
    }
}

// SAFETY: the stacks are page-aligned mappings with a guard page below them,
// used by one fiber at a time: a region is in the free list or in exactly one
// `CachedStack`, never both.
unsafe impl StackCreator for StackCache {
    fn new_stack(
        &self,
        size: usize,
        zeroed: bool,
    ) -> Result<Box<dyn StackMemory>, wasmtime::Error> {
        let page = rustix::param::page_size();
        let want = size.div_ceil(page) * page;
        let reused = {
            let mut free = lock(&self.free);
            free.iter()
                .position(|r| r.stack_len() == want)
                .map(|i| free.swap_remove(i))
        };
        let region = match reused {
            Some(region) => {
                if zeroed {
                    // SAFETY: the stack range of a mapping nothing uses now; it reads as
                    // zeros afterwards.
                    unsafe {
                        madvise(
                            region.stack_ptr(),
                            region.stack_len(),
                            Advice::LinuxDontNeed,
                        )
                    }
                    .map_err(|e| {
                        wasmtime::Error::msg(format!("failed to zero a fiber stack: {e}"))
                    })?;
                }
                region
            }
            None => Region::map(want)?,
        };
        Ok(Box::new(CachedStack {
            region: Some(region),
            free: self.free.clone(),
        }))
    }
}

/// A stack in use; back to the cache when dropped.
struct CachedStack {
    region: Option<Region>,
    free: Arc<Mutex<Vec<Region>>>,
}

impl CachedStack {
    fn region(&self) -> &Region {
        self.region.as_ref().expect("a stack in use has its region")
    }
}

// SAFETY: see `StackCache`; the ranges describe the region's mapping.
unsafe impl StackMemory for CachedStack {
    fn top(&self) -> *mut u8 {
        let r = self.region();
        (r.base + r.len) as *mut u8
    }

    fn range(&self) -> Range<usize> {
        let r = self.region();
        r.base + r.guard..r.base + r.len
    }

    fn guard_range(&self) -> Range<*mut u8> {
        let r = self.region();
        r.base as *mut u8..(r.base + r.guard) as *mut u8
    }
}

impl Drop for CachedStack {
    fn drop(&mut self) {
        if let Some(region) = self.region.take() {
            let mut free = lock(&self.free);
            if free.len() < MAX_CACHED {
                free.push(region);
            }
            // Else the region is dropped (unmapped) here.
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ended_stacks_are_reused_up_to_the_cap_and_zeroed_on_request() {
        let cache = StackCache::default();
        let size = 64 * 1024;
        let first = cache.new_stack(size, false).unwrap();
        let top = first.top();
        let range = first.range();
        assert_eq!(range.end, top as usize);
        assert_eq!(range.len(), size);
        assert_eq!(first.guard_range().end as usize, range.start);
        // Write into it, give it back, get the same one, zeroed when asked.
        unsafe { *((range.end - 8) as *mut u64) = 0xdead_beef };
        drop(first);
        let again = cache.new_stack(size, true).unwrap();
        assert_eq!(again.top(), top, "the ended stack is reused");
        assert_eq!(unsafe { *((again.range().end - 8) as *const u64) }, 0);
        drop(again);
        // Another size gets its own mapping.
        let other = cache.new_stack(2 * size, false).unwrap();
        assert_ne!(other.top(), top);
        drop(other);
        // No more than MAX_CACHED are kept.
        let many: Vec<_> = (0..MAX_CACHED + 4)
            .map(|_| cache.new_stack(size, false).unwrap())
            .collect();
        drop(many);
        assert_eq!(lock(&cache.free).len(), MAX_CACHED);
    }
}
