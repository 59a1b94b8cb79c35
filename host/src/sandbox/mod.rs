//! What a guest can touch: directories ([`fs`]), network ([`net`]) and
//! standard output ([`stdio`]). Deny by default: a guest sees its private
//! root, its volume mounts and its pod's own in-memory loopback, nothing
//! else; stdin is closed.

mod fs;
pub mod handles;
pub mod net;
mod stdio;

pub use fs::{
    Kept, MAX_SPARES, MAX_WALK_ENTRIES, PodDirs, Preopen, RootsAt, SandboxError, Spares, discard,
    disk_usage, drain_discarded, keep, lone_roots, owned_prefix, read_regular_file, reopen,
    roots_base, sweep_stale, temp_run_base,
};
pub use net::{Backends, ClusterNetwork, Directory, PodListener, PodNetwork, PodStream};
pub use stdio::{CHANNEL_CHUNKS, Chunk, OutputSink, Stream};
