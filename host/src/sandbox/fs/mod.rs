//! A pod's directories: its volumes and each container's private root.
//!
//! * `emptyDir`: a fresh directory per pod under the run directory (or, for
//!   `medium: Memory`, under `/dev/shm` where that is a tmpfs), removed when
//!   the pod ends. It survives container restarts, as in Kubernetes. Its
//!   `sizeLimit` is enforced by the supervisor, which measures it with
//!   [`disk_usage`] and evicts the pod.
//! * `hostPath`: the host directory itself, checked against `type`.
//! * Each container instance also gets a private, empty writable root (`/`),
//!   standing in for a container's writable layer: guests can use `/tmp`
//!   without a volume. It is recreated for every instance, like a restarted
//!   container's layer. For a "compat" registry image (an OCI image holding a
//!   `.wasm`) it starts as a copy of the image's files ([`rootfs`]). The
//!   volume mounts are preopened on top of it; WASI resolves a path through
//!   the longest matching preopen. The root holds an
//!   empty `terminationMessagePath` file (`/dev/termination-log`). Roots live
//!   in the run directory's `containers/`, or in memory when the run
//!   directory is on a disk ([`roots_base`]), or each in a directory of its
//!   own in memory for a pod that has neither volumes nor a run directory
//!   ([`lone_roots`]); those left as they were made are kept for the
//!   runtime's next containers ([`spare`]).
//! * `workingDir` (created in the root if missing) is preopened as `.`, with
//!   the root's other top-level directories preopened by name: see
//!   [`workdir`].
//!
//! * `configMap`, `secret`, `downwardAPI` and `projected`: a directory per pod
//!   (memory-backed for secret and projected volumes, as the kubelet's), its
//!   files written by [`PodDirs::project`] in the kubelet's `..data` layout
//!   (`atomic.rs`) and rewritten the same way when their objects change;
//!   mounted read-only; removed when the pod ends.
//!
//! `subPath` mounts a sub-directory of the volume (created if missing, as the
//! kubelet does); a `subPath` that resolves outside the volume (through a
//! symlink) is refused. On a projected volume a `subPath` may name a file (the
//! usual way to place one key of a ConfigMap): WASI mounts directories, so the
//! file is copied, as it is at that start (a `subPath` mount never follows
//! updates on a node either), into a directory of its own mounted read-only at
//! the mount path's parent.
//!
//! # Guest-writable trees
//! Guests can plant symlinks anywhere they can write. Every host operation
//! inside a volume or a container root goes through a [`cap_std::fs::Dir`]
//! opened on it, which resolves paths beneath it and refuses any that lead
//! out (by `..` or a symlink), like runc's securejoin and the kubelet's
//! subpath code. Each preopen carries its opened directory and wasmtime is
//! handed `/proc/self/fd/N` for it, so a component swapped for a symlink
//! after the checks cannot redirect the mount.

mod atomic;
mod files;
mod host_path;
mod kept;
mod made;
mod places;
mod read;
mod remove;
mod rootfs;
mod spare;
mod subpath;
mod sweep;
mod trash;
mod usage;
mod workdir;

use crate::sync::lock;
use host_path::check_host_path;
pub use kept::{Kept, keep, reopen};
pub use places::{RootsAt, lone_roots, roots_base, sweep_stale, temp_run_base};
use places::{memory_base, shared_stem};
pub use read::read_regular_file;
use rootfs::Root;
pub use spare::{MAX_SPARES, Spares};
pub use sweep::owned_prefix;
pub use trash::{discard, drain_discarded};
pub use usage::{MAX_WALK_ENTRIES, disk_usage};

use std::collections::HashMap;
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

use cap_std::ambient_authority;
use cap_std::fs::Dir;

use crate::plan::{ContainerPlan, Payload, PodPlan, VolumeSource};

/// A directory preopened for a guest.
#[derive(Debug, Clone)]
pub struct Preopen {
    /// The host directory (for messages: the guest gets [`Preopen::dir`]).
    pub host: PathBuf,
    /// The opened directory: what the guest is given, whatever `host`
    /// names by the time the instance starts.
    pub dir: Arc<Dir>,
    /// The path the guest sees.
    pub guest: String,
    /// Read-only for the guest.
    pub read_only: bool,
    /// Set on the working directory's preopen (guest name `.`): the
    /// absolute guest path of `workingDir`, the guest's `initial-cwd`.
    pub cwd: Option<String>,
}

impl Preopen {
    /// The path to hand to wasmtime: on Linux `/proc/self/fd/N`, the magic
    /// link that names exactly the opened directory (what runc does); the
    /// host path elsewhere. Valid while `self.dir` is open.
    pub fn wasi_path(&self) -> PathBuf {
        #[cfg(target_os = "linux")]
        {
            use std::os::fd::AsRawFd;
            PathBuf::from(format!("/proc/self/fd/{}", self.dir.as_raw_fd()))
        }
        #[cfg(not(target_os = "linux"))]
        {
            self.host.clone()
        }
    }
}

/// Why a pod's directories could not be set up.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SandboxError {
    /// A directory could not be created or opened.
    #[error("volume {volume:?}: {message}: {path:?}")]
    Io {
        /// The volume (or `rootfs`).
        volume: String,
        /// What was being done.
        message: &'static str,
        /// The host path.
        path: PathBuf,
        /// The cause.
        #[source]
        cause: std::io::Error,
    },
    /// A hostPath does not match its `type`, or a subPath escapes its volume.
    #[error("volume {volume:?}: {message}")]
    Invalid {
        /// The volume.
        volume: String,
        /// What is wrong.
        message: String,
    },
}

impl SandboxError {
    /// The Kubernetes waiting reason for a container this error keeps from starting.
    pub fn reason(&self) -> &'static str {
        "CreateContainerConfigError"
    }
}

/// One volume: where it is and its opened directory.
#[derive(Debug)]
struct Volume {
    path: PathBuf,
    dir: Arc<Dir>,
    /// A projected volume: read-only for guests, its files written by [`PodDirs::project`].
    projected: bool,
}

/// The directories of one pod.
#[derive(Debug)]
pub struct PodDirs {
    run_dir: PathBuf,
    /// Where the containers' private roots go: `run_dir/containers`, a directory in
    /// a memory file system ([`roots_base`]), or a shared one ([`lone_roots`]).
    containers: PathBuf,
    /// What a root's name starts with in `containers` (empty unless it is shared).
    root_prefix: String,
    volumes: HashMap<String, Volume>,
    /// Directories to remove when the pod ends.
    owned: Vec<PathBuf>,
    /// Where files mounted by `subPath` from memory-backed volumes are copied (memory too).
    memory_files: Option<PathBuf>,
    /// The containers whose private root exists: a first start has no
    /// previous root to discard.
    roots: std::sync::Mutex<HashMap<String, Root>>,
    /// Where roots left as they were made are kept for later containers, and
    /// taken from ([`spare`]).
    spares: Option<Arc<Spares>>,
    /// The roots are on a memory file system: removed at once (on a disk
    /// [`discard`] moves them away, to be removed off the pod's path).
    roots_in_memory: bool,
    /// Roots of ended instances in memory, moved aside at their containers' restarts:
    /// removed once the new instance is under way ([`PodDirs::remove_stale`]).
    stale: std::sync::Mutex<Vec<Root>>,
    /// Set by [`PodDirs::remove`]: a second call (the drop after the pod's end) does nothing.
    removed: std::sync::atomic::AtomicBool,
}

impl PodDirs {
    /// [`PodDirs::create_with_roots`] with the roots in `run_dir/containers`.
    #[cfg(test)]
    pub fn create(plan: &PodPlan, run_dir: &Path) -> Result<Self, SandboxError> {
        Self::create_with_roots(plan, run_dir, RootsAt::RunDir)
    }

    /// The path of a new private root of container `name`.
    fn root_path(&self, name: &str) -> PathBuf {
        match self.root_prefix.is_empty() {
            true => self.containers.join(name),
            false => self.containers.join(format!("{}{name}", self.root_prefix)),
        }
    }

    /// Creates the pod's emptyDirs and checks its hostPaths. The containers' private
    /// roots go where `roots` says (each made at its container's start, removed with the
    /// pod).
    ///
    /// # Errors
    /// [`SandboxError`] when a directory cannot be created or a hostPath does
    /// not match its type.
    pub fn create_with_roots(
        plan: &PodPlan,
        run_dir: &Path,
        roots: RootsAt,
    ) -> Result<Self, SandboxError> {
        let mut owned = Vec::new();
        let (containers, root_prefix, roots_in_memory, spares) = match roots {
            RootsAt::Dir(roots) => {
                create_exact("rootfs", &roots)?;
                // Removed with the pod even if no container ever started.
                owned.push(roots.clone());
                let in_memory = trash::on_tmpfs(&roots);
                (roots, String::new(), in_memory, None)
            }
            RootsAt::RunDir => {
                let containers = run_dir.join("containers");
                create_dir("rootfs", &containers)?;
                let in_memory = trash::on_tmpfs(&containers);
                (containers, String::new(), in_memory, None)
            }
            // `lone_roots` gives only a memory file system.
            RootsAt::Beside {
                base,
                prefix,
                spares,
            } => (base, prefix, true, spares),
        };
        let mut dirs = PodDirs {
            run_dir: run_dir.to_path_buf(),
            containers,
            root_prefix,
            volumes: HashMap::new(),
            owned,
            memory_files: None,
            roots: Default::default(),
            spares,
            roots_in_memory,
            stale: Default::default(),
            removed: Default::default(),
        };
        for v in &plan.volumes {
            let projected = matches!(v.source, VolumeSource::Projected { .. });
            let path = match &v.source {
                VolumeSource::EmptyDir { memory, .. } => {
                    // Names become path components: one plain component each.
                    let leaf = if *memory {
                        format!("{}-{}", shared_stem(&plan.uid), v.name)
                    } else {
                        v.name.clone()
                    };
                    single_component(&v.name, &leaf)?;
                    let path = match memory.then(memory_base).flatten() {
                        Some(base) => {
                            let path = base.join(leaf);
                            create_exact(&v.name, &path)?;
                            path
                        }
                        None => {
                            let path = match memory {
                                true => run_dir.join(leaf),
                                false => run_dir.join("volumes").join(leaf),
                            };
                            create_dir(&v.name, &path)?;
                            path
                        }
                    };
                    dirs.owned.push(path.clone());
                    path
                }
                VolumeSource::HostPath { path, kind } => {
                    check_host_path(&v.name, path, kind)?;
                    path.clone()
                }
                VolumeSource::Projected { memory, .. } => {
                    single_component(&v.name, &v.name)?;
                    let path = match memory.then(memory_base).flatten() {
                        Some(base) => {
                            if dirs.memory_files.is_none() {
                                let files = base.join(format!("{}-files", shared_stem(&plan.uid)));
                                create_exact(&v.name, &files)?;
                                dirs.owned.push(files.clone());
                                dirs.memory_files = Some(files);
                            }
                            let path = base.join(format!("{}-{}", shared_stem(&plan.uid), v.name));
                            create_exact(&v.name, &path)?;
                            path
                        }
                        None => {
                            let path = run_dir.join("volumes").join(&v.name);
                            create_dir(&v.name, &path)?;
                            path
                        }
                    };
                    dirs.owned.push(path.clone());
                    path
                }
            };
            let dir = open_ambient(&v.name, &path)?;
            dirs.volumes.insert(
                v.name.clone(),
                Volume {
                    path,
                    dir: Arc::new(dir),
                    projected,
                },
            );
        }
        Ok(dirs)
    }

    #[cfg(test)]
    /// The host directory behind a volume.
    pub fn volume_path(&self, name: &str) -> Option<&Path> {
        self.volumes.get(name).map(|v| v.path.as_path())
    }

    /// The private root of container `name`'s current instance, opened now
    /// (`None` before its first start, or when it cannot be opened). Every
    /// component of its path is the runtime's own (see `kept.rs`).
    pub fn root_dir(&self, name: &str) -> Option<Dir> {
        let path = lock(&self.roots).get(name)?.path.clone();
        open_ambient("rootfs", &path).ok()
    }

    /// The opened directory of a volume.
    pub fn volume_dir(&self, name: &str) -> Option<Arc<Dir>> {
        self.volumes.get(name).map(|v| v.dir.clone())
    }

    /// A volume of the pod.
    fn volume(&self, name: &str) -> Result<&Volume, SandboxError> {
        self.volumes.get(name).ok_or_else(|| SandboxError::Invalid {
            volume: name.to_string(),
            message: "no such volume".into(),
        })
    }

    /// Writes a projected volume's files (atomically, in the kubelet's `..data` layout),
    /// unless it already holds exactly these. Returns whether anything changed.
    ///
    /// # Errors
    /// [`SandboxError`] when the volume is not a projected one of this pod or a file
    /// cannot be written.
    pub fn project(&self, volume: &str, payload: &Payload) -> Result<bool, SandboxError> {
        let v = self
            .volumes
            .get(volume)
            .filter(|v| v.projected)
            .ok_or_else(|| SandboxError::Invalid {
                volume: volume.to_string(),
                message: "no such projected volume".into(),
            })?;
        atomic::write(&v.dir, payload)
            .map_err(|source| io_err(volume, "failed to write files", &v.path, source))
    }

    /// [`PodDirs::preopens_reusing`] without reuse.
    #[cfg(test)]
    pub fn preopens_for(&self, c: &ContainerPlan) -> Result<Vec<Preopen>, SandboxError> {
        self.preopens_reusing(c, false)
    }

    /// Prepares the preopens of one container instance: a private root (fresh, or
    /// a spare one as good as new: [`spare`]) and its volume mounts. Everything
    /// inside the root and the volumes is created through their opened
    /// directories, never outside them. With `reuse` (no instance of the pod can
    /// use its directories: none holds an instance permit), the container's
    /// previous root, if left as it was made, serves the new instance where it is.
    ///
    /// # Errors
    /// [`SandboxError`] if a directory cannot be created, a path escapes its
    /// root or a subPath escapes its volume.
    pub fn preopens_reusing(
        &self,
        c: &ContainerPlan,
        reuse: bool,
    ) -> Result<Vec<Preopen>, SandboxError> {
        single_component("rootfs", &c.name)?;
        let (root, dir) = self.root_for(c, reuse)?;
        let mut mount_points = Vec::new();
        for m in &c.mounts {
            mount_points.push(beneath(&m.volume, "mountPath", &m.mount_path)?);
        }
        let mut preopens = vec![Preopen {
            host: root.clone(),
            dir: Arc::new(dir),
            guest: "/".into(),
            read_only: c.read_only_root,
            cwd: None,
        }];
        if c.read_only_root {
            preopens.extend(rootfs::message_dir(c, &root, &preopens[0].dir)?);
        }
        let mut file_mounts = Vec::new();
        for (m, mount_point) in c.mounts.iter().zip(mount_points) {
            let volume = self.volume(&m.volume)?;
            let read_only = m.read_only || volume.projected;
            let (host, dir) = match &m.sub_path {
                Some(sub) if volume.projected => {
                    match subpath::open_beneath(&m.volume, "subPath", &volume.dir, sub, false) {
                        Ok(dir) => (volume.path.join(sub), Arc::new(dir)),
                        Err(_) => {
                            file_mounts.push((m, mount_point));
                            continue;
                        }
                    }
                }
                Some(sub) => (
                    volume.path.join(sub),
                    Arc::new(subpath::open(&m.volume, &volume.dir, sub)?),
                ),
                None => (volume.path.clone(), volume.dir.clone()),
            };
            // Make the mount point visible when the guest lists its parent
            // (best effort: the preopen works without it).
            let _ = preopens[0].dir.create_dir_all(&mount_point);
            preopens.push(Preopen {
                host,
                dir,
                guest: m.mount_path.clone(),
                read_only,
                cwd: None,
            });
        }
        let files = files::preopens(self, c, &root, &file_mounts, &preopens)?;
        preopens.extend(files);
        let working_dir = workdir::preopens(c.working_dir.as_deref(), &preopens)?;
        preopens.extend(working_dir);
        Ok(preopens)
    }

    /// Removes the roots [`PodDirs::preopens_reusing`] moved aside at restarts.
    pub fn remove_stale(&self) {
        let stale = std::mem::take(&mut *lock(&self.stale));
        for root in stale {
            trash::discard_root(&root.path, root.as_made.as_deref());
        }
    }

    /// Removes the pod's emptyDirs and container roots ([`discard`]: off the
    /// pod's path on a disk). Errors are logged: cleanup must not hide the
    /// pod's outcome.
    pub fn remove(&self) {
        self.remove_reusing(false);
    }

    /// [`PodDirs::remove`]; with `reuse` (no instance can use the pod's directories any
    /// more), a root left as it was made is kept for a later container ([`spare`]).
    pub fn remove_reusing(&self, reuse: bool) {
        if self.removed.swap(true, std::sync::atomic::Ordering::AcqRel) {
            return;
        }
        self.remove_stale();
        // Each root in memory first, in the few calls one left as it was made
        // takes; the others go with the directory that holds them, if the pod
        // owns it.
        let shared = !self.root_prefix.is_empty();
        let spares = self.spares.as_ref().filter(|_| reuse);
        for (_, root) in lock(&self.roots).drain() {
            if let (Some(spares), Some(message)) = (spares, &root.as_made)
                && spares.offer(&root.path, message)
            {
                continue;
            }
            if root.as_made.is_some() || shared {
                trash::discard_root(&root.path, root.as_made.as_deref());
            }
        }
        let in_run_dir = self.containers.starts_with(&self.run_dir);
        let containers = in_run_dir.then(|| self.containers.clone());
        for dir in self.owned.iter().chain(containers.as_ref()) {
            trash::discard(dir);
        }
        if self.owned.iter().any(|d| d.starts_with(&self.run_dir)) {
            let _ = std::fs::remove_dir(self.run_dir.join("volumes"));
        }
    }
}

impl Drop for PodDirs {
    /// A pod's directories go with it, even when its supervisor is dropped before the end
    /// (its runtime shut down under it); after [`PodDirs::remove`] there is nothing left.
    fn drop(&mut self) {
        self.remove();
    }
}

/// A guest path made relative to its root, refused if it could leave it
/// (`..`); validation should have refused it already.
fn beneath(volume: &str, field: &str, path: &str) -> Result<PathBuf, SandboxError> {
    let mut rel = PathBuf::new();
    for c in Path::new(path).components() {
        match c {
            Component::Normal(part) => rel.push(part),
            Component::RootDir | Component::CurDir => {}
            Component::ParentDir | Component::Prefix(_) => {
                return Err(SandboxError::Invalid {
                    volume: volume.to_string(),
                    message: format!("{field} {path:?} must not contain '..'"),
                });
            }
        }
    }
    Ok(rel)
}

/// Refuses a name that is not exactly one plain path component.
fn single_component(volume: &str, name: &str) -> Result<(), SandboxError> {
    let mut parts = Path::new(name).components();
    match (parts.next(), parts.next()) {
        (Some(Component::Normal(_)), None) => Ok(()),
        _ => Err(SandboxError::Invalid {
            volume: volume.to_string(),
            message: format!("{name:?} is not a valid directory name"),
        }),
    }
}

fn open_ambient(volume: &str, path: &Path) -> Result<Dir, SandboxError> {
    Dir::open_ambient_dir(path, ambient_authority())
        .map_err(|source| io_err(volume, "failed to open directory", path, source))
}

/// Creates a directory of this process's own in a shared place (`/dev/shm`): exactly
/// `path`, failing if anything is there already, so that another user's planted
/// directory or symlink is never taken for it (its sticky parent then keeps it ours).
fn create_exact(volume: &str, path: &Path) -> Result<(), SandboxError> {
    std::fs::create_dir(path)
        .map_err(|source| io_err(volume, "failed to create directory", path, source))
}

fn create_dir(volume: &str, path: &Path) -> Result<(), SandboxError> {
    std::fs::create_dir_all(path)
        .map_err(|source| io_err(volume, "failed to create directory", path, source))
}

fn io_err(
    volume: &str,
    message: &'static str,
    path: &Path,
    source: std::io::Error,
) -> SandboxError {
    SandboxError::Io {
        volume: volume.to_string(),
        message,
        path: path.to_path_buf(),
        cause: source,
    }
}

#[cfg(test)]
mod spare_tests;
#[cfg(test)]
mod tests;
