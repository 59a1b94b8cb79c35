//! `subPath` mounts of one file of a projected volume (`subPath: nginx.conf`, `mountPath:
//! /etc/nginx/nginx.conf`). WASI preopens are directories, so each such file is copied,
//! as it is when the instance starts, into a directory of the instance's own that is
//! mounted read-only at the mount path's parent; files with the same parent share it.
//! The copy of a file from a memory-backed volume stays in memory.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::{PodDirs, Preopen, SandboxError, create_dir, io_err, open_ambient, single_component};
use crate::plan::{ContainerPlan, MountPlan};

/// The preopens for `mounts` (file `subPath` mounts of projected volumes, each with its
/// mount point relative to the root) of container `c`, whose private root is `root`.
pub(super) fn preopens(
    dirs: &PodDirs,
    c: &ContainerPlan,
    root: &Path,
    mounts: &[(&MountPlan, PathBuf)],
    existing: &[Preopen],
) -> Result<Vec<Preopen>, SandboxError> {
    let mut groups: BTreeMap<String, Vec<(&MountPlan, String)>> = BTreeMap::new();
    for (m, mount_point) in mounts {
        let invalid = |message: String| SandboxError::Invalid {
            volume: m.volume.clone(),
            message,
        };
        let (Some(parent), Some(name)) = (mount_point.parent(), mount_point.file_name()) else {
            return Err(invalid(format!(
                "mountPath {:?} cannot hold a file",
                m.mount_path
            )));
        };
        let guest = format!("/{}", parent.display());
        if guest == "/" {
            return Err(invalid(format!(
                "a file mounted at {:?}, in /, is not supported under WASI",
                m.mount_path
            )));
        }
        if existing
            .iter()
            .any(|p| p.guest != "/" && same_path(&p.guest, &guest))
        {
            return Err(invalid(format!(
                "the file of subPath {:?} would be mounted in {guest}, which is another mount: not supported under WASI",
                m.sub_path.as_deref().unwrap_or_default()
            )));
        }
        groups
            .entry(guest)
            .or_default()
            .push((m, name.to_string_lossy().into_owned()));
    }
    let mut out = Vec::new();
    for (i, (guest, files)) in groups.into_iter().enumerate() {
        let memory = files.iter().any(|(m, _)| {
            dirs.volumes
                .get(&m.volume)
                .is_some_and(|v| !v.path.starts_with(&dirs.run_dir))
        });
        let base = match (&dirs.memory_files, memory) {
            (Some(files), true) => files.join(&c.name),
            _ => root.parent().unwrap_or(root).join("files"),
        };
        single_component("rootfs", &c.name)?;
        let host = base.join(i.to_string());
        if std::fs::symlink_metadata(&host).is_ok() {
            std::fs::remove_dir_all(&host)
                .map_err(|source| io_err("rootfs", "failed to reset", &host, source))?;
        }
        create_dir("rootfs", &host)?;
        let dir = open_ambient("rootfs", &host)?;
        for (m, name) in files {
            let volume = dirs.volume(&m.volume)?;
            let sub = m.sub_path.as_deref().unwrap_or_default();
            // Read through the volume's directory: links stay inside it.
            let bytes = volume.dir.read(sub).map_err(|e| SandboxError::Invalid {
                volume: m.volume.clone(),
                message: match e.kind() {
                    std::io::ErrorKind::NotFound => {
                        format!("subPath {sub:?} does not exist in the volume")
                    }
                    _ => format!("subPath {sub:?}: {e}"),
                },
            })?;
            dir.write(&name, bytes)
                .map_err(|source| io_err(&m.volume, "failed to copy", &host.join(&name), source))?;
        }
        out.push(Preopen {
            host,
            dir: Arc::new(dir),
            guest,
            read_only: true,
            cwd: None,
        });
    }
    Ok(out)
}

fn same_path(a: &str, b: &str) -> bool {
    a.trim_end_matches('/') == b.trim_end_matches('/')
}
