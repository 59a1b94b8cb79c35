//! Creating pods: validate → resolve → load images → set up directories →
//! spawn the supervisor (which waits for [`PodHandle::start`]).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use k8s_openapi::api::core::v1::Pod;
use tokio::sync::{oneshot, watch};

use super::pull_backoff::{self, FailedPull, image_error_status};
use super::{PodHandle, RunOptions};
use crate::error::Error;
use crate::plan::{self, PodPlan};
use crate::runtime::Compiled;
use crate::runtime::Runtime;
use crate::runtime::registry::PullReport;
use crate::sandbox::{PodDirs, RootsAt};
use crate::spec::ValidPod;
use crate::supervisor::driver::Driver;
use crate::supervisor::launcher::WasmInstances;
use crate::supervisor::output::Shared;
use crate::supervisor::output::logs::LogDir;
use crate::supervisor::{Observed, Slot, status};

impl Runtime {
    /// Creates a pod without starting it: resolves it, compiles its images and prepares its
    /// volumes, so that the caller can subscribe to [`PodHandle::events`] and
    /// [`PodHandle::logs`] before the first line is written; [`PodHandle::start`] starts it.
    ///
    /// The pod comes validated, with its warnings: [`ValidPod::from_yaml`] for a manifest,
    /// [`ValidPod::from_pod`] for a typed `Pod`, [`spec::load`](crate::spec::load) for a file of
    /// several.
    ///
    /// ```no_run
    /// # async fn demo(runtime: wasmpod::Runtime, yaml: &str) -> Result<(), wasmpod::Error> {
    /// let pod = wasmpod::ValidPod::from_yaml(yaml)?;
    /// for warning in &pod.warnings {
    ///     eprintln!("warning: {warning}");
    /// }
    /// let handle = runtime.create(pod, wasmpod::RunOptions::default()).await?;
    /// handle.start();
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`Error::Plan`] when the pod cannot be resolved, [`Error::Image`] when an image cannot
    /// be loaded (the error carries the pod's status, with the container waiting under a
    /// Kubernetes reason), [`Error::Sandbox`] / [`Error::RunDir`] when directories cannot be
    /// set up.
    pub async fn create(&self, pod: ValidPod, mut options: RunOptions) -> Result<PodHandle, Error> {
        step!("create");
        // The pod's IP, and the Services that exist now for its environment.
        let cluster_net = self.cluster().network();
        let reserved = cluster_net
            .reserve()
            .ok_or_else(|| Error::AddressesExhausted {
                cidr: cluster_net.pod_cidr().to_string(),
            })?;
        let raw = &pod.document.pod;
        let namespace = raw.metadata.namespace.as_deref().unwrap_or("default");
        let links = raw.spec.as_ref().and_then(|s| s.enable_service_links);
        let service_env = match links {
            Some(false) => Vec::new(),
            _ => self.cluster().service_env(namespace),
        };
        let address = plan::PodAddress::new(Some(reserved.ip()), service_env);
        let mut plan = plan::resolve_at(raw, &base_dir(&options)?, address)?;
        if options.pull_secrets.is_empty() {
            options.pull_secrets = self.cluster_pull_secrets(&pod.document.pod).0;
        }
        // A failed registry pull keeps the pod Pending and is retried once it starts
        // (unless the caller wants the error, as `wasmpod run`).
        let (images, failed_pull) = match self.load_images(&mut plan, &options.pull_secrets).await {
            Ok(images) => (images, None),
            Err(Error::Image {
                container,
                cause,
                pod,
            }) if !options.fail_on_pull_error && pull_backoff::retried(&cause) => {
                (HashMap::new(), Some((FailedPull { container, cause }, pod)))
            }
            Err(e) => return Err(e),
        };
        let plan = Arc::new(plan);

        // A pod given no run directory that has no volumes needs none: only its roots.
        let lone = match options.run_dir.is_none() && plan.volumes.is_empty() {
            true => crate::sandbox::lone_roots(self.spares()),
            false => None,
        };
        let (run_dir, temp) = match (&options.run_dir, &lone) {
            (Some(d), _) => (d.clone(), None),
            (None, Some((never_made, _))) => (never_made.clone(), None),
            (None, None) => {
                let base = crate::sandbox::temp_run_base();
                let t = tempfile::Builder::new()
                    .prefix(&format!("{}{}-", crate::sandbox::owned_prefix(), plan.name))
                    .tempdir_in(&base)
                    .map_err(|source| Error::RunDir { path: base, source })?;
                let t = TempRunDir(t.keep());
                (t.0.clone(), Some(t))
            }
        };
        if options.run_dir.is_some() {
            std::fs::create_dir_all(&run_dir).map_err(|source| Error::RunDir {
                path: run_dir.clone(),
                source,
            })?;
        }
        let copies_image_files = plan
            .init_containers
            .iter()
            .chain(&plan.containers)
            .any(|c| c.pulled.as_ref().is_some_and(|p| p.rootfs.is_some()));
        let roots = match (&options.run_dir, lone) {
            (Some(_), _) => crate::sandbox::roots_base(&run_dir, &plan.uid, copies_image_files)
                .map_or(RootsAt::RunDir, RootsAt::Dir),
            (None, Some((_, beside))) => beside,
            // A temporary run directory is in memory already where memory is roomy.
            (None, None) => RootsAt::RunDir,
        };
        let dirs = PodDirs::create_with_roots(&plan, &run_dir, roots)?;

        let obs = Observed::new(&plan);
        let shared = Arc::new(Shared::new(match &failed_pull {
            Some((_, pod)) => (**pod).clone(),
            None => status::snapshot(&plan, &obs),
        }));
        // Listed in the runtime's cluster while the pod runs or its handle lives.
        let registration = Arc::new(self.register(&plan.uid, shared.status.subscribe()));
        shared.on_status_change(registration.on_status_change());
        let listed = registration.clone();
        let (stop_tx, stop_rx) = watch::channel(None);
        let (start_tx, start_rx) = oneshot::channel();
        let (done_tx, done_rx) = watch::channel(None);
        // The pod's network namespace, shared by its containers.
        let names = crate::sandbox::net::lookup::PodNames::new(plan.hostname.clone())
            .with_aliases(plan.host_aliases.clone())
            .with_resolver(resolver(&plan));
        let network = reserved.join(names, plan.namespace.clone());
        let (exec_tx, execs) = tokio::sync::mpsc::unbounded_channel();
        let mut driver = Driver {
            instances: Arc::new(WasmInstances {
                runtime: self.clone(),
                images: Arc::new(Mutex::new(images)),
                replaced: Arc::default(),
                secrets: options.pull_secrets.clone(),
                plan: plan.clone(),
                shared: shared.clone(),
                outbound: Arc::from(options.allow_outbound.clone()),
            }),
            max_instances: self.max_instances_per_pod(),
            plan: plan.clone(),
            dirs: Arc::new(dirs),
            backoff: options.backoff,
            shared: shared.clone(),
            stop: stop_rx.clone(),
            log_dir: options.run_dir.as_ref().map(|d| LogDir {
                dir: d.join("logs"),
                rotation: options.log_rotation,
            }),
            obs,
            network: network.clone(),
            objects: self.cluster().watch_objects(),
            execs,
        };
        let (runtime, secrets) = (self.clone(), options.pull_secrets.clone());
        let outbound_hosts = options.allow_outbound.clone();
        let ends = Ends {
            shared: shared.clone(),
            ended: false,
        };
        tokio::spawn(async move {
            // The whole guard, not only the field the task sets.
            let mut ends = ends;
            // Dropped without start: nothing ran; leave quietly.
            if start_rx.await.is_err() {
                ends.ended = true;
                drop(temp);
                return;
            }
            step!("supervisor");
            if let Some((failed, _)) = failed_pull {
                let mut stop = stop_rx.clone();
                let shared = &ends.shared;
                let loaded = pull_backoff::until_loaded(
                    &runtime,
                    &driver.plan,
                    &secrets,
                    driver.backoff,
                    shared,
                    &mut stop,
                    failed,
                )
                .await;
                let Some((plan, images)) = loaded else {
                    // Stopped while pulling: it never ran.
                    shared.close();
                    drop(temp);
                    drop(listed);
                    let ended = (crate::supervisor::Phase::Pending, *stop_rx.borrow());
                    let _ = done_tx.send(Some(ended));
                    ends.ended = true;
                    return;
                };
                driver.plan = Arc::new(plan);
                driver.obs = Observed::new(&driver.plan);
                driver.instances = Arc::new(WasmInstances {
                    runtime,
                    images: Arc::new(Mutex::new(images)),
                    replaced: Arc::default(),
                    secrets,
                    plan: driver.plan.clone(),
                    shared: shared.clone(),
                    outbound: Arc::from(outbound_hosts),
                });
            }
            let phase = driver.run().await;
            // Its path is gone now; on a disk, the files go in the background.
            drop(temp);
            drop(listed);
            step!("ended");
            let _ = done_tx.send(Some((phase, *stop_rx.borrow())));
            ends.ended = true;
        });
        step!("created");
        Ok(PodHandle {
            name: plan.name.clone(),
            shared,
            stop: stop_tx,
            start: Mutex::new(Some(start_tx)),
            done: done_rx,
            run_dir: PathBuf::from(&run_dir),
            network,
            execs: exec_tx,
            _registration: registration,
        })
    }

    /// Resolves `pod` and compiles its images as [`create`](Self::create) does, and creates
    /// nothing: what `wasmpod validate` checks.
    ///
    /// # Errors
    /// As [`create`](Self::create), but for directories.
    pub async fn validate(&self, pod: &ValidPod, options: &RunOptions) -> Result<(), Error> {
        let mut plan = plan::resolve(&pod.document.pod, &base_dir(options)?)?;
        let secrets = if options.pull_secrets.is_empty() {
            self.cluster_pull_secrets(&pod.document.pod).0
        } else {
            options.pull_secrets.clone()
        };
        self.load_images(&mut plan, &secrets).await.map(|_| ())
    }

    /// The credentials of `pod`'s `imagePullSecrets`, read from the Secrets of its
    /// namespace in this runtime's [`Cluster`](crate::Cluster), and a warning for each one
    /// that is missing or not a Docker-config Secret (the kubelet goes on without those).
    /// What [`create`](Self::create) uses when [`RunOptions::pull_secrets`] is empty.
    pub fn pull_secrets(&self, pod: &ValidPod) -> (Vec<crate::PullSecret>, Vec<String>) {
        self.cluster_pull_secrets(&pod.document.pod)
    }

    fn cluster_pull_secrets(&self, pod: &Pod) -> (Vec<crate::PullSecret>, Vec<String>) {
        let objects = self.cluster().objects();
        let namespace = pod.metadata.namespace.as_deref().unwrap_or("default");
        let spec = pod.spec.as_ref();
        let names = spec
            .and_then(|s| s.image_pull_secrets.as_ref())
            .into_iter()
            .flatten();
        let (mut secrets, mut warnings) = (Vec::new(), Vec::new());
        for name in names.map(|r| r.name.as_str()) {
            let Some(secret) = objects.secret(namespace, name) else {
                warnings.push(format!(
                    "imagePullSecrets: secret {name:?} not found in namespace {namespace}"
                ));
                continue;
            };
            let data = secret
                .data
                .iter()
                .flatten()
                .map(|(k, v)| (k.clone(), v.0.clone()))
                .collect();
            match crate::PullSecret::from_secret(name, secret.type_.as_deref(), &data) {
                Ok(s) => secrets.push(s),
                Err(e) => warnings.push(format!("imagePullSecrets: {e}")),
            }
        }
        (secrets, warnings)
    }

    /// What `pod` reads from ConfigMaps and Secrets that this runtime's
    /// [`Cluster`](crate::Cluster) does not hold: every missing object and key (optional
    /// references left out), each with the kubelet's message. Empty when the pod can start.
    /// A pod created with some missing waits for them; `wasmpod run`, where nothing can add
    /// them, reports them all instead.
    ///
    /// ```no_run
    /// # fn demo(runtime: &wasmpod::Runtime, pod: &wasmpod::ValidPod) -> Result<(), wasmpod::Error> {
    /// for missing in runtime.missing_references(pod)? {
    ///     eprintln!("missing: {missing}"); // configmap "settings" not found
    /// }
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`Error::Plan`] when the pod cannot be resolved.
    pub fn missing_references(&self, pod: &ValidPod) -> Result<Vec<String>, Error> {
        let plan = plan::resolve(&pod.document.pod, std::path::Path::new("."))?;
        Ok(plan.missing_references(&self.cluster().objects()))
    }

    /// Loads every image of a pod before anything starts, all at once (one pull per
    /// registry image, as its pull policy says; one compile per distinct content); an error
    /// is reported for the first container in spec order. A pulled image is noted in its
    /// container's plan (`imageID`, the `Pulled` event).
    pub(super) async fn load_images(
        &self,
        plan: &mut PodPlan,
        secrets: &[crate::PullSecret],
    ) -> Result<HashMap<Slot, Compiled>, Error> {
        let mut images: HashMap<Slot, Compiled> = HashMap::new();
        let slots: Vec<Slot> = (0..plan.init_containers.len())
            .map(Slot::Init)
            .chain((0..plan.containers.len()).map(Slot::Regular))
            .collect();
        // A file or built-in image used by several containers is read (and
        // digested) once: each later use takes the first's load.
        let same_as: Vec<Option<usize>> = slots
            .iter()
            .enumerate()
            .map(|(i, slot)| {
                let source = &slot.plan(plan).source;
                if !matches!(
                    source,
                    plan::ImageSource::File(_) | plan::ImageSource::Builtin(_)
                ) {
                    return None;
                }
                slots[..i]
                    .iter()
                    .position(|earlier| &earlier.plan(plan).source == source)
            })
            .collect();
        let loads: Vec<_> = slots
            .iter()
            .zip(&same_as)
            .filter(|(_, same)| same.is_none())
            .map(|(slot, _)| {
                let c = slot.plan(plan);
                let (runtime, source, policy) = (self.clone(), c.source.clone(), c.pull_policy);
                let (image, secrets) = (c.image.clone(), secrets.to_vec());
                // A registry image may be a compat image, whose entrypoint is known once
                // its config is pulled: what the container writes itself, for it.
                let written = matches!(source, plan::ImageSource::Registry(_)).then(|| {
                    let start = plan::StartEnv {
                        argv: c.argv.clone(),
                        env: c.env.clone(),
                    };
                    (start, plan::image::overrides(&plan.pod, &c.name))
                });
                let load = async move {
                    let pulled = runtime
                        .ensure_image(&image, &source, policy, &secrets)
                        .await?;
                    let config = pulled.as_ref().and_then(|(r, _)| r.config.as_ref());
                    let (loaded, compat) = match (config, &pulled, written) {
                        (Some(config), Some((record, _)), Some((written, overrides))) => {
                            let (start, dir) =
                                plan::ContainerPlan::with_image(config, &overrides, written);
                            let argv0 = start.argv.first().cloned().unwrap_or_default();
                            let (loaded, func) =
                                runtime.load_compat(record, &argv0, dir.as_deref()).await?;
                            let rootfs = runtime.image_rootfs(record);
                            (loaded, Some((start, dir, func, rootfs, config.clone())))
                        }
                        _ => (runtime.load_image(&source).await?, None),
                    };
                    Ok::<_, crate::ImageError>((loaded, pulled, compat))
                };
                let load: Load = match c.source {
                    // A pull runs to its end, its files landing whole in the image store,
                    // even if this pod's creation is given up meanwhile.
                    plan::ImageSource::Registry(_) => Box::pin(async move {
                        tokio::spawn(load)
                            .await
                            .unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()))
                    }),
                    // A local or cached image loads right here, without a hop to
                    // another task and back (its compile, if any, runs on the
                    // blocking pool).
                    _ => Box::pin(load),
                };
                load
            })
            .collect();
        // All at once: the pulls wait on their registries together.
        let mut loaded = futures_util::future::join_all(loads).await.into_iter();
        for (&slot, same) in slots.iter().zip(same_as) {
            if let Some(first) = same {
                // Loaded without an error (else this returned at the first),
                // and neither pulled nor a compat image.
                let image = images[&slots[first]].clone();
                images.insert(slot, image);
                continue;
            }
            let loaded = loaded.next().expect("one load per slot without a same_as");
            let c = slot.plan(plan);
            match loaded {
                Ok((image, pulled, compat)) => {
                    images.insert(slot, image);
                    if let Some((record, report)) = pulled {
                        let mut pulled = crate::plan::PulledImage {
                            image_id: record.image_id,
                            pulled_now: matches!(report, PullReport::Pulled { .. }),
                            message: report.message(&c.image),
                            rootfs: None,
                            config: None,
                            entry_func: None,
                        };
                        let c = match slot {
                            Slot::Init(i) => &mut plan.init_containers[i],
                            Slot::Regular(i) => &mut plan.containers[i],
                        };
                        if let Some((start, dir, func, rootfs, config)) = compat {
                            (c.argv, c.env, c.working_dir) = (start.argv, start.env, dir);
                            (pulled.rootfs, pulled.config) = (Some(rootfs), Some(config));
                            pulled.entry_func = func;
                        }
                        c.pulled = Some(pulled);
                    }
                }
                Err(cause) => {
                    let status = image_error_status(
                        plan,
                        slot,
                        cause.reason(),
                        &crate::report::chain(&cause),
                    );
                    return Err(Error::Image {
                        container: c.name.clone(),
                        cause,
                        pod: Box::new(status),
                    });
                }
            }
        }
        Ok(images)
    }

    /// [`create`](Self::create), then [`start`](PodHandle::start).
    ///
    /// # Errors
    /// As [`create`](Self::create).
    pub async fn run(&self, pod: ValidPod, options: RunOptions) -> Result<PodHandle, Error> {
        let handle = self.create(pod, options).await?;
        handle.start();
        Ok(handle)
    }
}

/// One container's image loading ([`Runtime::load_images`]).
type Load = std::pin::Pin<Box<dyn Future<Output = Result<Loaded, crate::ImageError>> + Send>>;

/// A container's image, its pull record and report, and for a compat image what it
/// starts (argv and environment), in which directory, with which entry function, on which
/// root filesystem, under which config.
type Loaded = (
    Compiled,
    Option<(crate::runtime::registry::ImageRecord, PullReport)>,
    Option<(
        plan::StartEnv,
        Option<String>,
        Option<String>,
        PathBuf,
        crate::plan::ImageConfig,
    )>,
);

/// Ends what a pod's supervisor publishes when its task ends, also when it ends without
/// finishing (a panic: an embedding program's tracing subscriber that panics on a closed
/// stderr, say; or its runtime shut down): the log and event streams end, and a pod that
/// had not ended is Failed. So no reader of them and no caller of [`PodHandle::wait`] is
/// left waiting on a pod nothing supervises. Its containers are killed as the task's
/// driver, and with it their instances, is dropped.
struct Ends {
    shared: Arc<Shared>,
    /// The task finished its work (the pod ended, or never ran).
    ended: bool,
}

impl Drop for Ends {
    fn drop(&mut self) {
        if !self.ended {
            self.shared.update_status(|pod| {
                let status = pod.status.get_or_insert_with(Default::default);
                if matches!(status.phase.as_deref(), Some("Succeeded" | "Failed")) {
                    return false;
                }
                status.phase = Some("Failed".into());
                status.reason = Some("SupervisorFailed".into());
                status.message = Some(
                    "the pod's supervisor stopped before the pod ended: it panicked, or the \
                     tokio runtime driving it shut down"
                        .into(),
                );
                true
            });
        }
        self.shared.close();
    }
}

/// A pod's temporary run directory, removed when dropped by
/// [`crate::sandbox::discard`]: its path is free at once, and unlike
/// `tempfile::TempDir`'s `remove_dir_all` the removal takes no stack frame
/// per level of a guest's nested directories.
struct TempRunDir(PathBuf);

impl Drop for TempRunDir {
    fn drop(&mut self) {
        crate::sandbox::discard(&self.0);
    }
}

/// Where relative image paths start: [`RunOptions::base_dir`], else the current directory.
fn base_dir(options: &RunOptions) -> Result<PathBuf, Error> {
    match &options.base_dir {
        Some(d) => Ok(d.clone()),
        None => std::env::current_dir().map_err(|source| Error::RunDir {
            path: ".".into(),
            source,
        }),
    }
}

/// The pod's resolver: its `dnsPolicy`'s search path and `ndots`, with its
/// `dnsConfig`'s after them; `None` for a `ClusterFirst` pod without a
/// `dnsConfig` (the pod network's default).
fn resolver(plan: &PodPlan) -> Option<crate::sandbox::net::lookup::Resolver> {
    use crate::plan::DnsPolicy;
    use crate::sandbox::net::lookup::Resolver;
    let own = match plan.dns.policy {
        DnsPolicy::ClusterFirst if plan.dns.searches.is_empty() && plan.dns.ndots.is_none() => {
            return None;
        }
        DnsPolicy::ClusterFirst => Resolver::cluster_first(&plan.namespace),
        DnsPolicy::Node => Resolver::node(),
        DnsPolicy::Configured => Resolver::configured(),
    };
    Some(own.with(&plan.dns.searches, plan.dns.ndots))
}
