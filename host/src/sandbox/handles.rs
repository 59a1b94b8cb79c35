//! A budget of open host handles per instance.
//!
//! Every file or directory a guest opens is a host descriptor; without a
//! bound, one container holding thousands of files exhausts the process's
//! descriptor limit, and every sibling's file operations fail. So each
//! instance may hold at most [`MAX_OPEN_FILES`] open descriptors at once:
//!
//! * a wasip2 component's `descriptor.open-at` past the budget fails with
//!   `insufficient-memory` — `wasi:filesystem` has no `EMFILE`; this is the
//!   nearest code, and it reaches only that guest (the host's own open
//!   never runs);
//! * every instance's resource table (files, streams, sockets, pollables…)
//!   is capped at [`MAX_TABLE_ENTRIES`]; a guest past that traps ("resource
//!   table has no free keys") — the only way wasmtime-wasi's wasip1 adapter
//!   can refuse, since its descriptor table is private.
//!
//! At start the runtime also raises the process's soft descriptor limit to
//! its hard limit ([`raise_fd_limit`]), as container runtimes do.

use wasmtime::component::{Linker, Resource};
use wasmtime_wasi::WasiView;
use wasmtime_wasi::filesystem::Descriptor;
use wasmtime_wasi::p2::bindings::filesystem::types::{
    DescriptorFlags, ErrorCode, HostDescriptor, OpenFlags, PathFlags,
};

/// The most files and directories one instance may hold open.
pub const MAX_OPEN_FILES: usize = 1024;
/// The most entries of one instance's resource table.
pub const MAX_TABLE_ENTRIES: usize = 16 * 1024;

/// The `wasi:filesystem/types` instance wasmtime-wasi 48 links.
const FILESYSTEM_TYPES: &str = "wasi:filesystem/types@0.2.12";

/// Replaces `descriptor.open-at` with one that refuses past the budget.
/// Call after wasmtime-wasi's own `add_to_linker`.
///
/// # Errors
/// When the linker has no `wasi:filesystem/types` to shadow.
pub fn add_open_budget<T: WasiView + 'static>(linker: &mut Linker<T>) -> wasmtime::Result<()> {
    linker.allow_shadowing(true);
    let result = linker.instance(FILESYSTEM_TYPES)?.func_wrap_async(
        "[method]descriptor.open-at",
        |mut store,
         (dir, path_flags, path, open_flags, flags): (
            Resource<Descriptor>,
            PathFlags,
            String,
            OpenFlags,
            DescriptorFlags,
        )| {
            Box::new(async move {
                let view = store.data_mut().ctx();
                let open = view
                    .table
                    .iter_mut()
                    .filter(|entry| entry.is::<Descriptor>())
                    .count();
                if open >= MAX_OPEN_FILES {
                    return Ok((Err(ErrorCode::InsufficientMemory),));
                }
                let mut fs =
                    wasmtime_wasi::filesystem::WasiFilesystemView::filesystem(store.data_mut());
                match HostDescriptor::open_at(&mut fs, dir, path_flags, path, open_flags, flags)
                    .await
                {
                    Ok(file) => Ok((Ok(file),)),
                    Err(e) => Ok((Err(e.downcast()?),)),
                }
            })
        },
    );
    linker.allow_shadowing(false);
    result
}

/// Raises the process's soft `RLIMIT_NOFILE` to its hard limit (Unix); the
/// new soft limit, if it could be read.
pub fn raise_fd_limit() -> Option<u64> {
    #[cfg(unix)]
    {
        use rustix::process::{Resource, getrlimit, setrlimit};
        let mut limit = getrlimit(Resource::Nofile);
        if limit.current < limit.maximum {
            limit.current = limit.maximum;
            if setrlimit(Resource::Nofile, limit).is_err() {
                return getrlimit(Resource::Nofile).current;
            }
        }
        limit.current
    }
    #[cfg(not(unix))]
    None
}
