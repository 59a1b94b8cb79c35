//! Volumes and mounts, resolved; the size limits the supervisor enforces.

use std::path::PathBuf;

use super::{ContainerKind, ContainerPlan, PodPlan};

/// One mount of a volume into a container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountPlan {
    /// The volume's name (an entry of [`PodPlan::volumes`]).
    pub volume: String,
    /// The absolute path the guest sees.
    pub mount_path: String,
    /// Mounted read-only.
    pub read_only: bool,
    /// A sub-directory of the volume to mount instead of its root.
    pub sub_path: Option<String>,
    /// `subPathExpr`: [`MountPlan::sub_path`] expanded from the container's
    /// environment at each start ([`ContainerPlan::with_sub_path_exprs`]).
    pub sub_path_expr: Option<String>,
}

/// The longest expansion of a `subPathExpr` (`PATH_MAX`).
pub const MAX_SUB_PATH_EXPANSION: usize = 4096;

impl ContainerPlan {
    /// The container with each mount's `subPathExpr` expanded from `env` (its
    /// environment at this start) into its `subPath`, as the kubelet's `makeMounts`
    /// does; `None` when no mount has one.
    ///
    /// # Errors
    /// The kubelet's message, for a container waiting with `CreateContainerConfigError`:
    /// a referenced variable that is unset or empty, an expansion that is an absolute
    /// path or has a `..` element, or one longer than [`MAX_SUB_PATH_EXPANSION`].
    pub fn with_sub_path_exprs(
        &self,
        env: &[(String, String)],
    ) -> Result<Option<ContainerPlan>, String> {
        if self.mounts.iter().all(|m| m.sub_path_expr.is_none()) {
            return Ok(None);
        }
        let mut expanded = self.clone();
        for m in &mut expanded.mounts {
            let Some(expr) = m.sub_path_expr.as_deref() else {
                continue;
            };
            let missing = std::cell::RefCell::new(std::collections::BTreeSet::new());
            let lookup = |name: &str| {
                // The last definition of a name is the one a process sees.
                let value = env.iter().rev().find(|(k, _)| k == name).map(|(_, v)| v);
                if value.is_none_or(|v| v.is_empty()) {
                    missing.borrow_mut().insert(name.to_owned());
                }
                Some(value.map_or("", String::as_str))
            };
            let sub = crate::spec::expand::expand_bounded(expr, lookup, MAX_SUB_PATH_EXPANSION)
                .map_err(|e| format!("subPathExpr {expr:?} {e}"))?;
            let missing = missing.into_inner();
            if !missing.is_empty() {
                let names: Vec<String> = missing.into_iter().collect();
                return Err(format!("missing value for {}", names.join(", ")));
            }
            if sub.starts_with('/') {
                return Err(format!(
                    "error SubPath `{sub}` must not be an absolute path"
                ));
            }
            if sub.split('/').any(|part| part == "..") {
                return Err(format!(
                    "unable to provision SubPath `{sub}`: must not contain '..'"
                ));
            }
            m.sub_path = Some(sub).filter(|s| !s.is_empty());
        }
        Ok(Some(expanded))
    }
}

/// What backs a volume.
#[derive(Debug, Clone, PartialEq)]
pub enum VolumeSource {
    /// A fresh directory per pod, removed when the pod ends.
    EmptyDir {
        /// `medium: Memory`: memory-backed (tmpfs) where the OS allows.
        memory: bool,
        /// `sizeLimit`: the pod is evicted when the volume holds more
        /// (see [`PodPlan::volume_limit`] for memory-backed volumes).
        size_limit: Option<SizeLimit>,
    },
    /// A directory of the host.
    HostPath {
        /// The host path (absolute).
        path: PathBuf,
        /// `type:` (`""`, `Directory`, `DirectoryOrCreate`, …).
        kind: String,
    },
    /// Files from ConfigMaps, Secrets and the downward API (`configMap`, `secret`,
    /// `downwardAPI` and `projected` volumes): read-only, rewritten atomically when their
    /// objects change, removed when the pod ends.
    Projected {
        /// Where the files come from, in order (a later source's file wins).
        sources: Vec<super::Projection>,
        /// Memory-backed where the OS allows (secret and projected volumes, as the kubelet's).
        memory: bool,
    },
}

/// A size limit: the bytes, and the quantity as the kubelet prints it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SizeLimit {
    /// The limit in bytes.
    pub bytes: u64,
    /// The quantity as written (`16Mi`), for messages.
    pub text: String,
}

impl SizeLimit {
    /// A limit from a quantity as written (`16Mi`); `None` when it does not
    /// parse to a byte count (validation reports those).
    pub fn parse(quantity: &str) -> Option<Self> {
        let bytes = u64::try_from(crate::spec::quantity::quantity_value(quantity).ok()?).ok()?;
        Some(SizeLimit {
            bytes,
            text: quantity.trim().to_string(),
        })
    }

    /// A limit from a byte count, shown in binary units when exact (`64Mi`),
    /// as `resource.NewQuantity(n, BinarySI).String()` does.
    pub fn from_bytes(bytes: u64) -> Self {
        let mut text = bytes.to_string();
        for (shift, suffix) in [
            (60, "Ei"),
            (50, "Pi"),
            (40, "Ti"),
            (30, "Gi"),
            (20, "Mi"),
            (10, "Ki"),
        ] {
            if bytes != 0 && bytes.is_multiple_of(1u64 << shift) {
                text = format!("{}{suffix}", bytes >> shift);
                break;
            }
        }
        SizeLimit { bytes, text }
    }
}

/// A pod volume.
#[derive(Debug, Clone, PartialEq)]
pub struct VolumePlan {
    /// The volume's name.
    pub name: String,
    /// What backs it.
    pub source: VolumeSource,
}

impl PodPlan {
    /// The pod's memory limit, as the kubelet sizes a memory-backed
    /// emptyDir: only when every container has `resources.limits.memory`,
    /// the larger of the sum over regular containers and sidecars and the
    /// largest regular init container's.
    pub fn pod_memory_limit(&self) -> Option<u64> {
        let mut sum: u64 = 0;
        let mut init_max: u64 = 0;
        for c in self.init_containers.iter().chain(&self.containers) {
            let limit = c.memory_limit?;
            if c.kind == ContainerKind::Init {
                init_max = init_max.max(limit);
            } else {
                sum = sum.saturating_add(limit);
            }
        }
        Some(sum.max(init_max))
    }

    /// The most a volume may hold before the pod is evicted: an emptyDir's
    /// `sizeLimit`; for `medium: Memory`, the smaller of that and the pod's
    /// memory limit (its tmpfs counts against the pod's memory). `None`:
    /// unlimited.
    pub fn volume_limit(&self, v: &VolumePlan) -> Option<SizeLimit> {
        let VolumeSource::EmptyDir { memory, size_limit } = &v.source else {
            return None;
        };
        let pod = memory
            .then(|| self.pod_memory_limit())
            .flatten()
            .map(SizeLimit::from_bytes);
        match (size_limit.clone(), pod) {
            (Some(s), Some(p)) => Some(if p.bytes < s.bytes { p } else { s }),
            (s, p) => s.or(p),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::SizeLimit;

    fn plan(volumes: &str, memory: [Option<&str>; 2]) -> super::PodPlan {
        let c = |name: &str, m: Option<&str>| {
            let limits = m
                .map(|m| format!("\n    resources: {{limits: {{memory: {m}}}}}"))
                .unwrap_or_default();
            format!("  - name: {name}\n    image: busybox{limits}\n")
        };
        let yaml = format!(
            "apiVersion: v1\nkind: Pod\nmetadata: {{name: p}}\nspec:\n  volumes:\n{volumes}  containers:\n{}{}",
            c("a", memory[0]),
            c("b", memory[1])
        );
        let file = crate::spec::load(&yaml).expect("valid test pod");
        super::super::resolve(&file.pods[0].document.pod, std::path::Path::new("/")).unwrap()
    }

    fn limit(p: &super::PodPlan) -> Option<(u64, String)> {
        p.volume_limit(&p.volumes[0]).map(|l| (l.bytes, l.text))
    }

    #[test]
    fn volume_limits() {
        let disk = "  - name: v\n    emptyDir: {sizeLimit: 16Mi}\n";
        let memory = "  - name: v\n    emptyDir: {medium: Memory, sizeLimit: 1Gi}\n";
        let memory_only = "  - name: v\n    emptyDir: {medium: Memory}\n";
        let both = [Some("32Mi"), Some("32Mi")];
        assert_eq!(limit(&plan(disk, both)), Some((16 << 20, "16Mi".into())));
        assert_eq!(limit(&plan(memory, both)), Some((64 << 20, "64Mi".into())));
        assert_eq!(
            limit(&plan(memory, [Some("32Mi"), None])),
            Some((1 << 30, "1Gi".into()))
        );
        assert_eq!(
            limit(&plan(memory_only, both)),
            Some((64 << 20, "64Mi".into()))
        );
        assert_eq!(limit(&plan(memory_only, [None, None])), None);
        assert_eq!(limit(&plan("  - name: v\n    emptyDir: {}\n", both)), None);
        assert_eq!(
            limit(&plan("  - name: v\n    emptyDir: {sizeLimit: 0}\n", both)),
            None
        );
    }

    #[test]
    fn size_limits_print_like_binary_quantities() {
        assert_eq!(SizeLimit::from_bytes(64 << 20).text, "64Mi");
        assert_eq!(SizeLimit::from_bytes(3 << 30).text, "3Gi");
        assert_eq!(SizeLimit::from_bytes(1536).text, "1536");
        assert_eq!(SizeLimit::from_bytes(0).text, "0");
    }
}

#[cfg(test)]
mod sub_path_expr_tests {
    use std::path::Path;

    fn container(mounts: &str) -> super::ContainerPlan {
        let yaml = format!(
            "apiVersion: v1\nkind: Pod\nmetadata: {{name: p}}\nspec:\n  volumes:\n  - {{name: v, emptyDir: {{}}}}\n  \
             containers:\n  - name: app\n    image: busybox\n    volumeMounts:\n{mounts}"
        );
        let file = crate::spec::load(&yaml).expect("valid test pod");
        let plan =
            crate::plan::resolve(&file.pods[0].document.pod, Path::new("/")).expect("resolves");
        plan.containers[0].clone()
    }

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn expressions_expand_from_the_environment_into_sub_paths() {
        let c = container(
            "    - {name: v, mountPath: /logs, subPathExpr: 'logs/$(POD)-$(N)/$$(POD)'}\n    \
             - {name: v, mountPath: /plain, subPath: fixed}\n    - {name: v, mountPath: /whole}\n",
        );
        // The last definition of a name wins, as in the process's environment.
        let e = env(&[("POD", "old"), ("N", "1"), ("POD", "web")]);
        let expanded = c
            .with_sub_path_exprs(&e)
            .unwrap()
            .expect("a mount has an expression");
        let subs: Vec<_> = expanded
            .mounts
            .iter()
            .map(|m| m.sub_path.as_deref())
            .collect();
        assert_eq!(subs, [Some("logs/web-1/$(POD)"), Some("fixed"), None]);
        assert!(
            container("    - {name: v, mountPath: /a, subPath: s}\n")
                .with_sub_path_exprs(&e)
                .unwrap()
                .is_none()
        );
    }

    #[test]
    fn what_the_kubelet_refuses_is_its_message() {
        let c = container("    - {name: v, mountPath: /a, subPathExpr: '$(A)$(B)/$(C)'}\n");
        let err = c.with_sub_path_exprs(&env(&[("B", "")])).unwrap_err();
        assert_eq!(err, "missing value for A, B, C");
        let err = c.with_sub_path_exprs(&env(&[("A", "/tmp"), ("B", "x"), ("C", "y")]));
        assert_eq!(
            err.unwrap_err(),
            "error SubPath `/tmpx/y` must not be an absolute path"
        );
        let err = c.with_sub_path_exprs(&env(&[("A", "."), ("B", "."), ("C", "y")]));
        assert_eq!(
            err.unwrap_err(),
            "unable to provision SubPath `../y`: must not contain '..'"
        );
        let long = "x".repeat(super::MAX_SUB_PATH_EXPANSION);
        let err = c.with_sub_path_exprs(&env(&[("A", &long), ("B", "x"), ("C", "y")]));
        assert!(err.unwrap_err().contains("expands to more than 4096 bytes"));
    }
}
