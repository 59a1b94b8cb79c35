use std::path::Path;

use cap_std::ambient_authority;

use super::*;

fn open(path: &Path) -> Dir {
    Dir::open_ambient_dir(path, ambient_authority()).unwrap()
}

/// A plan from YAML, for tests that then bend it past validation.
pub(super) fn plan(volumes: &str, mounts: &str) -> PodPlan {
    let yaml = format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: p}}\nspec:\n  volumes:\n{volumes}  containers:\n  - name: app\n    image: busybox\n    volumeMounts:\n{mounts}"
    );
    let file = crate::spec::load(&yaml).expect("valid test pod");
    crate::plan::resolve(&file.pods[0].document.pod, Path::new("/")).expect("resolves")
}

/// Every path under `dir`, for "nothing was created here" checks. A
/// directory may vanish while it is read: a discarded tree is removed by the
/// background remover (`trash`), so a vanished one is skipped.
fn tree(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        let entries = match std::fs::read_dir(&d) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            r => r.unwrap(),
        };
        for e in entries {
            let Ok(e) = e else { continue };
            let p = e.path();
            if p.is_dir() && !p.is_symlink() {
                todo.push(p.clone());
            }
            out.push(p);
        }
    }
    out.sort();
    out
}

#[test]
fn sub_path_is_created_and_kept_inside() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = open(tmp.path());
    subpath::open("v", &dir, "a/b").unwrap();
    assert!(tmp.path().join("a/b").is_dir());
    assert!(subpath::open("v", &dir, "../x").is_err());
    assert!(subpath::open("v", &dir, "/etc").is_err());
    #[cfg(unix)]
    {
        std::os::unix::fs::symlink("/", tmp.path().join("escape")).unwrap();
        let err = subpath::open("v", &dir, "escape").unwrap_err();
        assert!(err.to_string().contains("outside the volume"), "{err}");
    }
}

/// Item 4 of issue 8: `a -> ../../../out` planted in a shared volume; a
/// `subPath: a/new` must be refused without creating `out/new`.
#[cfg(unix)]
#[test]
fn sub_path_through_a_planted_symlink_creates_nothing_outside() {
    let tmp = tempfile::tempdir().unwrap();
    let outside = tmp.path().join("out");
    std::fs::create_dir(&outside).unwrap();
    let vol = tmp.path().join("vol");
    std::fs::create_dir(&vol).unwrap();
    std::os::unix::fs::symlink("../out", vol.join("a")).unwrap();
    std::os::unix::fs::symlink(&outside, vol.join("abs")).unwrap();
    let dir = open(&vol);
    for sub in ["a/new", "a", "abs/new", "a/x/y"] {
        let err = subpath::open("v", &dir, sub).unwrap_err();
        assert!(
            err.to_string().contains("outside the volume"),
            "{sub}: {err}"
        );
    }
    assert!(tree(&outside).is_empty(), "{:?}", tree(&outside));
}

/// Symlinks that stay inside the volume are followed (the kubelet allows
/// them); one to a file is refused clearly (WASI mounts are directories).
#[cfg(unix)]
#[test]
fn sub_path_symlinks_inside_the_volume_are_followed() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(tmp.path().join("real/dir")).unwrap();
    std::fs::write(tmp.path().join("real/dir/f"), b"hi").unwrap();
    std::fs::write(tmp.path().join("file"), b"x").unwrap();
    std::os::unix::fs::symlink("real/dir", tmp.path().join("link")).unwrap();
    std::os::unix::fs::symlink("file", tmp.path().join("to-file")).unwrap();
    let dir = open(tmp.path());
    let sub = subpath::open("v", &dir, "link").unwrap();
    assert_eq!(sub.read("f").unwrap(), b"hi");
    let err = subpath::open("v", &dir, "to-file").unwrap_err();
    assert!(err.to_string().contains("not a directory"), "{err}");
    let err = subpath::open("v", &dir, "file").unwrap_err();
    assert!(err.to_string().contains("not a directory"), "{err}");
}

/// The preopen is the directory that was opened: replacing its path with a
/// symlink afterwards does not redirect it.
#[cfg(target_os = "linux")]
#[test]
fn preopen_names_the_opened_directory_not_its_path() {
    let tmp = tempfile::tempdir().unwrap();
    let outside = tmp.path().join("out");
    std::fs::create_dir(&outside).unwrap();
    let vol = tmp.path().join("vol");
    std::fs::create_dir_all(vol.join("a")).unwrap();
    let dir = open(&vol);
    let sub = subpath::open("v", &dir, "a").unwrap();
    std::fs::rename(vol.join("a"), vol.join("moved")).unwrap();
    std::os::unix::fs::symlink(&outside, vol.join("a")).unwrap();
    let p = Preopen {
        host: vol.join("a"),
        dir: Arc::new(sub),
        guest: "/m".into(),
        read_only: false,
        cwd: None,
    };
    let reopened = open(&p.wasi_path());
    reopened.write("new", b"x").unwrap();
    assert!(vol.join("moved/new").is_file());
    assert!(tree(&outside).is_empty());
}

/// Item 3 (host side): a `..` mountPath or terminationMessagePath that got
/// past validation creates nothing outside the container's root.
#[test]
fn dot_dot_paths_create_nothing_outside_the_root() {
    let tmp = tempfile::tempdir().unwrap();
    let run_dir = tmp.path().join("run");
    let mut p = plan(
        "  - name: v\n    emptyDir: {}\n",
        "    - {name: v, mountPath: /data}\n",
    );
    let dirs = PodDirs::create(&p, &run_dir).unwrap();
    let before = tree(tmp.path());
    let c = &mut p.containers[0];
    for bad in ["/../../../../escaped", "/a/../../../../escaped"] {
        c.mounts[0].mount_path = bad.into();
        let err = dirs.preopens_for(c).unwrap_err();
        assert!(err.to_string().contains("'..'"), "{err}");
    }
    c.mounts[0].mount_path = "/data".into();
    c.termination_message_path = "/../../../../escaped-log".into();
    let err = dirs.preopens_for(c).unwrap_err();
    assert!(err.to_string().contains("'..'"), "{err}");
    // A failed start discards its partial root in the background; wait for it.
    drain_discarded();
    let after: Vec<PathBuf> = tree(tmp.path())
        .into_iter()
        .filter(|p| !before.contains(p))
        .filter(|p| !p.starts_with(run_dir.join("containers")))
        .collect();
    assert!(after.is_empty(), "created outside the root: {after:?}");
    assert!(!tmp.path().join("escaped").exists());
    assert!(!tmp.path().join("escaped-log").exists());
}

#[test]
fn preopens_create_the_root_and_mount_points() {
    let tmp = tempfile::tempdir().unwrap();
    let p = plan(
        "  - name: v\n    emptyDir: {}\n",
        "    - {name: v, mountPath: /data/deep}\n",
    );
    let dirs = PodDirs::create(&p, tmp.path()).unwrap();
    let preopens = dirs.preopens_for(&p.containers[0]).unwrap();
    let root = &preopens[0];
    assert_eq!(root.guest, "/");
    assert!(root.dir.is_dir("tmp"));
    assert!(root.dir.is_dir("data/deep"));
    assert_eq!(root.dir.read("dev/termination-log").unwrap(), b"");
    assert_eq!(preopens[1].guest, "/data/deep");
    preopens[1].dir.write("f", b"x").unwrap();
    assert!(dirs.volume_path("v").unwrap().join("f").is_file());
}

/// A run directory reused after a process using it was killed: the old
/// root is replaced by a fresh one, not reused and not an error.
#[test]
fn a_root_left_in_a_reused_run_directory_is_replaced() {
    let tmp = tempfile::tempdir().unwrap();
    let p = plan("", "");
    let left = tmp.path().join("containers/app/tmp");
    std::fs::create_dir_all(&left).unwrap();
    std::fs::write(left.join("old"), "x").unwrap();
    let dirs = PodDirs::create(&p, tmp.path()).unwrap();
    let preopens = dirs.preopens_for(&p.containers[0]).unwrap();
    assert!(preopens[0].dir.is_dir("tmp"));
    assert!(!preopens[0].dir.exists("tmp/old"), "a fresh root");
}

/// Kept between instances, the root is its path (no descriptor) and the
/// mounts their opened directories; reopened, both are the same directories.
#[test]
fn kept_preopens_hold_the_root_by_path_and_reopen_it() {
    let tmp = tempfile::tempdir().unwrap();
    let p = plan(
        "  - name: v\n    emptyDir: {}\n",
        "    - {name: v, mountPath: /data}\n",
    );
    let dirs = PodDirs::create(&p, tmp.path()).unwrap();
    let preopens = dirs.preopens_for(&p.containers[0]).unwrap();
    let kept = super::keep(&preopens);
    assert!(
        matches!(&kept[0], super::Kept::Root { host, guest } if *host == preopens[0].host && guest == "/")
    );
    assert!(matches!(&kept[1], super::Kept::Open(m) if Arc::ptr_eq(&m.dir, &preopens[1].dir)));
    preopens[0].dir.write("in-root", b"x").unwrap();
    drop(preopens);
    let again = super::reopen(&kept).unwrap();
    assert_eq!(again[0].guest, "/");
    assert_eq!(again[0].dir.read("in-root").unwrap(), b"x");
    assert_eq!(again[1].guest, "/data");
    // Gone with the pod's directories: an error, not a panic.
    dirs.remove();
    drop(again);
    assert!(super::reopen(&kept).is_err());
}

/// A termination message planted as a symlink (to a host file) or a FIFO
/// is not read; a regular file is, up to the bound.
#[cfg(unix)]
#[test]
fn termination_message_reads_only_a_regular_file_beneath_the_root() {
    let tmp = tempfile::tempdir().unwrap();
    let secret = tmp.path().join("secret");
    std::fs::write(&secret, b"host secret").unwrap();
    let root = tmp.path().join("root");
    std::fs::create_dir_all(root.join("dev")).unwrap();
    let dir = open(&root);
    std::os::unix::fs::symlink(&secret, root.join("dev/abs")).unwrap();
    std::os::unix::fs::symlink("../../secret", root.join("dev/rel")).unwrap();
    std::os::unix::fs::symlink("../..", root.join("up")).unwrap();
    for planted in ["dev/abs", "dev/rel", "up/secret"] {
        assert_eq!(
            read_regular_file(&dir, Path::new(planted), 4096),
            None,
            "{planted}"
        );
    }
    let fifo = root.join("dev/fifo");
    rustix::fs::mknodat(
        rustix::fs::CWD,
        &fifo,
        rustix::fs::FileType::Fifo,
        rustix::fs::Mode::from_raw_mode(0o600),
        0,
    )
    .unwrap();
    assert_eq!(read_regular_file(&dir, Path::new("dev/fifo"), 4096), None);
    std::fs::write(root.join("dev/log"), vec![b'x'; 10_000]).unwrap();
    assert_eq!(
        read_regular_file(&dir, Path::new("dev/log"), 4096).map(|b| b.len()),
        Some(4096)
    );
}

#[test]
fn host_path_types_are_checked() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("new");
    assert!(check_host_path("v", &missing, "Directory").is_err());
    assert!(check_host_path("v", &missing, "").is_err());
    check_host_path("v", &missing, "DirectoryOrCreate").unwrap();
    assert!(missing.is_dir());
    check_host_path("v", &missing, "Directory").unwrap();
    let err = check_host_path("v", &missing, "File").unwrap_err();
    assert!(err.to_string().contains("not supported"), "{err}");
}

fn with_working_dir(mut p: PodPlan, dir: &str) -> PodPlan {
    p.containers[0].working_dir = Some(dir.into());
    p
}

/// `workingDir` in the private root is created there and preopened as `.`,
/// last, with the root's other top-level directories preopened by name.
#[test]
fn working_dir_in_the_root_is_created_and_preopened_last() {
    let tmp = tempfile::tempdir().unwrap();
    let p = with_working_dir(
        plan(
            "  - name: v\n    emptyDir: {}\n",
            "    - {name: v, mountPath: /data}\n",
        ),
        "/srv/app",
    );
    let dirs = PodDirs::create(&p, tmp.path()).unwrap();
    let preopens = dirs.preopens_for(&p.containers[0]).unwrap();
    let guests: Vec<&str> = preopens.iter().map(|p| p.guest.as_str()).collect();
    assert_eq!(guests, ["/", "/data", "/dev", "/srv", "/tmp", "."]);
    let cwd = preopens.last().unwrap();
    assert_eq!(cwd.cwd.as_deref(), Some("/srv/app"));
    cwd.dir.write("f", b"x").unwrap();
    assert!(preopens[0].dir.is_file("srv/app/f"));
    assert!(preopens.iter().filter(|p| p.cwd.is_some()).count() == 1);
}

/// `workingDir` inside a volume is opened beneath it; one reached through a
/// symlink a guest planted in the volume is refused, and nothing is created
/// outside the volume.
#[cfg(unix)]
#[test]
fn working_dir_in_a_volume_stays_beneath_it() {
    let tmp = tempfile::tempdir().unwrap();
    let run_dir = tmp.path().join("run");
    let p = with_working_dir(
        plan(
            "  - name: v\n    emptyDir: {}\n",
            "    - {name: v, mountPath: /data}\n",
        ),
        "/data/w/x",
    );
    let dirs = PodDirs::create(&p, &run_dir).unwrap();
    let vol = dirs.volume_path("v").unwrap().to_path_buf();
    let preopens = dirs.preopens_for(&p.containers[0]).unwrap();
    let cwd = preopens.last().unwrap();
    assert_eq!(
        (cwd.guest.as_str(), cwd.cwd.as_deref()),
        (".", Some("/data/w/x"))
    );
    assert!(vol.join("w/x").is_dir());
    // Mounted at /data: no separate preopen for the root's /data.
    assert_eq!(preopens.iter().filter(|p| p.guest == "/data").count(), 1);

    std::fs::remove_dir_all(vol.join("w")).unwrap();
    let outside = tmp.path().join("outside");
    std::fs::create_dir(&outside).unwrap();
    std::os::unix::fs::symlink(&outside, vol.join("w")).unwrap();
    let err = dirs.preopens_for(&p.containers[0]).unwrap_err();
    assert!(err.to_string().contains("workingDir"), "{err}");
    assert!(tree(&outside).is_empty());
}

#[test]
fn unset_or_root_working_dir_adds_no_preopen() {
    let tmp = tempfile::tempdir().unwrap();
    for dir in [None, Some("/")] {
        let mut p = plan(
            "  - name: v\n    emptyDir: {}\n",
            "    - {name: v, mountPath: /data}\n",
        );
        p.containers[0].working_dir = dir.map(String::from);
        let dirs = PodDirs::create(&p, tmp.path()).unwrap();
        let preopens = dirs.preopens_for(&p.containers[0]).unwrap();
        let guests: Vec<&str> = preopens.iter().map(|p| p.guest.as_str()).collect();
        assert_eq!(guests, ["/", "/data"], "{dir:?}");
    }
}

/// A pod's run directory on a disk keeps its logs and volumes; its containers' roots go
/// to a directory of this process's own in `/dev/shm`, made exactly (never a planted
/// one) and removed with the pod even if no container started. A run directory in
/// memory, or a container starting from an image's files, keeps them in the run
/// directory.
#[test]
fn roots_of_a_run_directory_on_disk_go_to_memory_and_leave_with_the_pod() {
    let disk = tempfile::tempdir().unwrap();
    let p = plan(
        "  - name: v\n    emptyDir: {}\n",
        "    - {name: v, mountPath: /data}\n",
    );
    if trash::on_tmpfs(disk.path()) {
        return; // No disk here to compare with.
    }
    assert_eq!(roots_base(disk.path(), &p.uid, true), None);
    let Some(roots) = roots_base(disk.path(), &p.uid, false) else {
        // No roomy /dev/shm: the roots stay in the run directory.
        assert!(memory_base().is_none_or(|b| !places::roomy_and_writable(&b)));
        return;
    };
    assert!(trash::on_tmpfs(roots.parent().unwrap()), "{roots:?}");
    assert!(
        roots
            .file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with(&owned_prefix())
    );
    let shm = roots.parent().unwrap();
    assert_eq!(
        roots_base(shm, &p.uid, false),
        None,
        "a run dir in memory keeps its roots"
    );

    let dirs = PodDirs::create_with_roots(&p, disk.path(), RootsAt::Dir(roots.clone())).unwrap();
    let preopens = dirs.preopens_for(&p.containers[0]).unwrap();
    assert!(
        preopens[0].host.starts_with(&roots),
        "{:?}",
        preopens[0].host
    );
    assert_eq!(preopens[0].dir.read("dev/termination-log").unwrap(), b"");
    assert!(dirs.volume_path("v").unwrap().starts_with(disk.path()));
    assert!(!disk.path().join("containers").exists());
    drop(preopens);
    dirs.remove();
    drain_discarded();
    assert!(!roots.exists(), "{roots:?} outlived the pod");

    // Never started: the directory made for the roots goes too.
    let dirs = PodDirs::create_with_roots(&p, disk.path(), RootsAt::Dir(roots.clone())).unwrap();
    assert!(roots.is_dir());
    // A second pod of the same uid cannot take a directory that is already there.
    assert!(PodDirs::create_with_roots(&p, disk.path(), RootsAt::Dir(roots.clone())).is_err());
    drop(dirs);
    drain_discarded();
    assert!(!roots.exists());
}

/// Roots in memory (where `/dev/shm` is a tmpfs) are removed by
/// `remove_made_root` when left as made, by `remove_tree` otherwise: either
/// way a restart gets a fresh root, nothing outside it is touched, and the
/// pod's end leaves nothing.
#[test]
fn roots_in_memory_are_fresh_at_each_restart_and_gone_with_the_pod() {
    let base = memory_tempdir();
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("termination-log"), "x").unwrap();
    let p = plan("", "");
    let dirs = PodDirs::create(&p, base.path()).unwrap();
    let c = &p.containers[0];
    // As made; then a guest's file and its message; then /dev a link out.
    let guests: [fn(&Path, &Path); 3] = [
        |_, _| {},
        |root, _| {
            std::fs::write(root.join("tmp/f"), "x").unwrap();
            std::fs::write(root.join("dev/termination-log"), "bye").unwrap();
        },
        |root, outside| {
            std::fs::remove_dir_all(root.join("dev")).unwrap();
            std::os::unix::fs::symlink(outside, root.join("dev")).unwrap();
        },
    ];
    for (i, guest) in guests.iter().enumerate() {
        let preopens = dirs.preopens_for(c).unwrap();
        let root = &preopens[0].dir;
        assert!(root.is_dir("tmp"), "start {i}");
        let in_tmp = root.read_dir("tmp").unwrap().count();
        assert_eq!(in_tmp, 0, "start {i}: a fresh /tmp");
        assert_eq!(root.read("dev/termination-log").unwrap(), b"", "start {i}");
        guest(&preopens[0].host, outside.path());
    }
    dirs.remove();
    let left: Vec<_> = std::fs::read_dir(base.path()).unwrap().collect();
    assert!(left.is_empty(), "{left:?}");
    let kept = std::fs::read(outside.path().join("termination-log")).unwrap();
    assert_eq!(kept, b"x", "a link was followed");
}

/// At a restart, a root in memory is moved aside at once (one call on the restart's
/// path), a fresh one made in its place, and the old one removed by `remove_stale`.
#[test]
fn a_restart_moves_the_previous_root_aside_until_remove_stale() {
    let base = memory_tempdir();
    if !trash::on_tmpfs(base.path()) {
        return; // On a disk `discard` moves it away for the remover thread instead.
    }
    let p = plan("", "");
    let dirs = PodDirs::create(&p, base.path()).unwrap();
    let c = &p.containers[0];
    let first = dirs.preopens_for(c).unwrap();
    std::fs::write(first[0].host.join("tmp/f"), "old").unwrap();
    let second = dirs.preopens_for(c).unwrap();
    assert_eq!(second[0].host, first[0].host);
    assert!(!second[0].host.join("tmp/f").exists(), "a fresh root");
    let names = || names_in(&base.path().join("containers"));
    let before = names();
    assert!(
        before.len() == 2 && before[1].starts_with("app.old-"),
        "{before:?}"
    );
    dirs.remove_stale();
    assert_eq!(names(), ["app"]);
    dirs.remove();
    assert!(!base.path().join("containers").exists());
}

/// Roots beside each other in a shared directory (a pod with neither volumes
/// nor a run directory, [`lone_roots`]): each pod makes and removes only its
/// own, as made or as a guest left them, links unfollowed; nothing else in the
/// directory is touched.
#[test]
fn roots_beside_each_other_are_each_pods_own_and_go_with_it() {
    let base = memory_tempdir();
    std::fs::create_dir(base.path().join("other")).unwrap();
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("f"), "x").unwrap();
    let p = plan("", "");
    let pods: Vec<PodDirs> = ["a.", "b."]
        .into_iter()
        .map(|prefix| {
            let at = RootsAt::Beside {
                base: base.path().to_path_buf(),
                prefix: prefix.into(),
                spares: None,
            };
            PodDirs::create_with_roots(&p, &base.path().join("never"), at).unwrap()
        })
        .collect();
    let c = &p.containers[0];
    for (dirs, prefix) in pods.iter().zip(["a.", "b."]) {
        // Made, then made again for a restart.
        for _ in 0..2 {
            let preopens = dirs.preopens_for(c).unwrap();
            assert_eq!(preopens[0].host, base.path().join(format!("{prefix}app")));
            assert_eq!(preopens[0].dir.read("dev/termination-log").unwrap(), b"");
        }
        // What the supervisor does once the restarted instance is under way.
        dirs.remove_stale();
    }
    // Pod b's guest leaves a file and a link out.
    let b_root = base.path().join("b.app");
    std::fs::write(b_root.join("tmp/f"), "x").unwrap();
    std::os::unix::fs::symlink(outside.path(), b_root.join("tmp/out")).unwrap();
    assert_eq!(names_in(base.path()), ["a.app", "b.app", "other"]);
    pods[0].remove();
    assert_eq!(names_in(base.path()), ["b.app", "other"]);
    drop(pods);
    drain_discarded();
    assert_eq!(names_in(base.path()), ["other"]);
    assert!(!base.path().join("never").exists());
    assert_eq!(std::fs::read(outside.path().join("f")).unwrap(), b"x");
}

/// [`lone_roots`], where it answers: a fresh name for each pod, and a run
/// directory path that is not made.
#[test]
fn lone_roots_are_named_anew_for_each_pod() {
    let spares = std::sync::OnceLock::new();
    let (
        Some((
            run_a,
            RootsAt::Beside {
                base,
                prefix: a,
                spares: Some(sa),
            },
        )),
        Some((
            run_b,
            RootsAt::Beside {
                prefix: b,
                spares: Some(sb),
                ..
            },
        )),
    ) = (lone_roots(&spares), lone_roots(&spares))
    else {
        return; // Not on a memory file system, or TMPDIR is set: temporary run directories.
    };
    assert!(trash::on_tmpfs(&base), "{base:?}");
    assert_ne!(a, b);
    assert!(a.starts_with(&owned_prefix()) && a.ends_with('.'), "{a}");
    assert!(!run_a.exists() && !run_b.exists() && run_a != run_b);
    // One runtime's pods share its spare roots.
    assert!(Arc::ptr_eq(&sa, &sb));
}

/// The names in `dir`, sorted.
pub(super) fn names_in(dir: &Path) -> Vec<String> {
    let mut n: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    n.sort();
    n
}

/// A temporary directory in memory where `/dev/shm` is a directory (a tmpfs
/// on Linux), else in the temp dir.
pub(super) fn memory_tempdir() -> tempfile::TempDir {
    match Path::new("/dev/shm").is_dir() {
        true => tempfile::tempdir_in("/dev/shm").unwrap(),
        false => tempfile::tempdir().unwrap(),
    }
}
