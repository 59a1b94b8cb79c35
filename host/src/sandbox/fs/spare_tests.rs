//! Spare roots ([`spare`]): kept only as they were made, taken by later pods, bounded,
//! and gone with the runtime.

use std::path::Path;
use std::sync::Arc;

use super::tests::{memory_tempdir, names_in, plan};
use super::*;

/// A directory in memory and a runtime's spares in it; `None` (nothing to test) off a
/// memory file system.
fn memory_spares() -> Option<(tempfile::TempDir, Arc<Spares>)> {
    let base = memory_tempdir();
    let spares = Arc::new(Spares::new(base.path().to_path_buf()));
    if !trash::on_tmpfs(base.path()) {
        assert!(!spares.enabled());
        return None;
    }
    assert!(
        spares.enabled(),
        "a tmpfs counts a directory's entries in its size"
    );
    Some((base, spares))
}

/// A pod of one container `app` with neither volumes nor a run directory.
fn pod(base: &Path, spares: &Arc<Spares>, prefix: &str) -> PodDirs {
    let at = RootsAt::Beside {
        base: base.to_path_buf(),
        prefix: prefix.into(),
        spares: Some(spares.clone()),
    };
    PodDirs::create_with_roots(&plan("", ""), &base.join("never"), at).unwrap()
}

/// A new root of `dirs`' container `app`.
fn root_of(dirs: &PodDirs) -> PathBuf {
    dirs.preopens_for(&plan("", "").containers[0]).unwrap()[0]
        .host
        .clone()
}

fn assert_as_made(root: &Path) {
    assert_eq!(names_in(root), ["dev", "tmp"]);
    assert_eq!(names_in(&root.join("dev")), ["termination-log"]);
    assert!(names_in(&root.join("tmp")).is_empty());
    assert_eq!(
        std::fs::read(root.join("dev/termination-log")).unwrap(),
        b""
    );
}

#[test]
fn a_root_left_as_made_is_kept_and_taken_by_the_next_pod() {
    let Some((base, spares)) = memory_spares() else {
        return;
    };
    let a = pod(base.path(), &spares, "a.");
    let root = root_of(&a);
    assert_eq!(root, base.path().join("a.app"));
    a.remove_reusing(true);
    assert_eq!(
        (spares.len(), names_in(base.path())),
        (1, vec!["a.app".into()])
    );

    // The next pod's container starts in it, as it was made.
    let b = pod(base.path(), &spares, "b.");
    assert_eq!(root_of(&b), root);
    assert_eq!(spares.len(), 0);
    assert_as_made(&root);
    // Its guest writes to /tmp: removed, not kept.
    std::fs::write(root.join("tmp/f"), "x").unwrap();
    b.remove_reusing(true);
    drain_discarded();
    assert_eq!(spares.len(), 0);
    assert!(names_in(base.path()).is_empty());

    // Removed without reuse (an instance might still use it), a root is never kept.
    let c = pod(base.path(), &spares, "c.");
    let root = root_of(&c);
    c.remove();
    assert_eq!(spares.len(), 0);
    assert!(!root.exists());
}

/// Whatever a guest can leave in its root besides what was made, or in place of it,
/// keeps the root from other pods; links planted in it are not followed.
#[test]
fn a_root_a_guest_changed_is_not_kept() {
    use std::fs;
    use std::os::unix::fs::symlink;
    let Some((base, spares)) = memory_spares() else {
        return;
    };
    let out = base.path().join("outside");
    fs::create_dir_all(out.join("dev")).unwrap();
    fs::write(out.join("dev/termination-log"), "").unwrap();
    type Change = fn(&Path, &Path);
    let changes: [(&str, Change); 14] = [
        ("a file in /tmp", |r, _| {
            fs::write(r.join("tmp/f"), "").unwrap()
        }),
        ("a directory in /tmp", |r, _| {
            fs::create_dir(r.join("tmp/d")).unwrap()
        }),
        ("a file at the top", |r, _| {
            fs::write(r.join("f"), "").unwrap()
        }),
        ("a directory at the top", |r, _| {
            fs::create_dir(r.join("d")).unwrap()
        }),
        ("a link at the top", |r, o| symlink(o, r.join("l")).unwrap()),
        ("a file beside the message", |r, _| {
            fs::write(r.join("dev/null"), "").unwrap()
        }),
        ("a message written", |r, _| {
            fs::write(r.join("dev/termination-log"), "bye").unwrap()
        }),
        ("the message linked outside", |r, o| {
            fs::hard_link(r.join("dev/termination-log"), o.join("linked")).unwrap()
        }),
        ("the message a link", |r, o| {
            fs::remove_file(r.join("dev/termination-log")).unwrap();
            symlink(o.join("dev/termination-log"), r.join("dev/termination-log")).unwrap()
        }),
        ("the message a directory", |r, _| {
            fs::remove_file(r.join("dev/termination-log")).unwrap();
            fs::create_dir(r.join("dev/termination-log")).unwrap()
        }),
        ("/dev a link to a look-alike", |r, o| {
            fs::remove_dir_all(r.join("dev")).unwrap();
            symlink(o.join("dev"), r.join("dev")).unwrap()
        }),
        ("/tmp a file", |r, _| {
            fs::remove_dir(r.join("tmp")).unwrap();
            fs::write(r.join("tmp"), "").unwrap()
        }),
        ("/tmp gone", |r, _| fs::remove_dir(r.join("tmp")).unwrap()),
        ("/tmp renamed", |r, _| {
            fs::rename(r.join("tmp"), r.join("tmq")).unwrap()
        }),
    ];
    for (i, (what, change)) in changes.into_iter().enumerate() {
        let dirs = pod(base.path(), &spares, &format!("p{i}."));
        let root = root_of(&dirs);
        change(&root, &out);
        dirs.remove_reusing(true);
        assert_eq!(spares.len(), 0, "{what}");
    }
    drain_discarded();
    assert_eq!(names_in(base.path()), ["outside"]);
    assert_eq!(names_in(&out), ["dev", "linked"]);
    assert_eq!(names_in(&out.join("dev")), ["termination-log"]);
}

/// A guest that only changed times leaves its root as good as new: its times are set
/// back, the same for every kept root, so no container learns when another used it.
#[test]
fn a_kept_root_has_its_times_set_back() {
    use std::os::unix::fs::MetadataExt as _;
    let Some((base, spares)) = memory_spares() else {
        return;
    };
    let mtimes = |root: &Path| -> Vec<(i64, i64)> {
        ["", "tmp", "dev", "dev/termination-log"]
            .iter()
            .map(|p| std::fs::symlink_metadata(root.join(p)).unwrap())
            .map(|m| (m.mtime(), m.atime()))
            .collect()
    };
    let early = std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_000_000_000);
    // Both made before either is kept (else the second takes the first).
    let pods = [
        pod(base.path(), &spares, "a."),
        pod(base.path(), &spares, "b."),
    ];
    let roots = pods.each_ref().map(root_of);
    for root in &roots {
        for p in ["tmp", "dev/termination-log"] {
            let f = std::fs::File::open(root.join(p)).unwrap();
            f.set_times(
                std::fs::FileTimes::new()
                    .set_modified(early)
                    .set_accessed(early),
            )
            .unwrap();
        }
    }
    for dirs in &pods {
        dirs.remove_reusing(true);
    }
    let kept: Vec<_> = roots.iter().map(|r| mtimes(r)).collect();
    assert_eq!(spares.len(), 2);
    let all: Vec<_> = kept.concat();
    assert!(all.iter().all(|t| *t == all[0]), "{all:?}");
    assert_ne!(all[0].0, 1_000_000_000);
}

/// At most [`spare::MAX_SPARES`] are kept; the others are removed, and the kept ones go
/// with the last holder of the runtime's spares.
#[test]
fn spares_are_bounded_and_go_with_the_runtime() {
    let Some((base, spares)) = memory_spares() else {
        return;
    };
    let pods: Vec<PodDirs> = (0..spare::MAX_SPARES + 3)
        .map(|i| pod(base.path(), &spares, &format!("p{i}.")))
        .collect();
    for dirs in &pods {
        root_of(dirs);
    }
    for dirs in &pods {
        dirs.remove_reusing(true);
    }
    drain_discarded();
    assert_eq!(spares.len(), spare::MAX_SPARES);
    assert_eq!(names_in(base.path()).len(), spare::MAX_SPARES);
    drop(pods);
    drop(spares);
    drain_discarded();
    assert!(names_in(base.path()).is_empty());
}

/// A restart takes a spare root too, and the previous one goes aside as before.
#[test]
fn a_restart_takes_a_spare_root() {
    let Some((base, spares)) = memory_spares() else {
        return;
    };
    let a = pod(base.path(), &spares, "a.");
    let kept = root_of(&a);
    a.remove_reusing(true);
    let b = pod(base.path(), &spares, "b.");
    let first = root_of(&b);
    assert_eq!(first, kept);
    std::fs::write(first.join("tmp/f"), "x").unwrap();
    // b's app restarts: no spare left, a new root of its own.
    let second = root_of(&b);
    assert_eq!(second, base.path().join("b.app"));
    assert_as_made(&second);
    b.remove_stale();
    assert!(!first.exists());
    b.remove_reusing(true);
    assert_eq!(spares.len(), 1);
}

/// With no instance left in the pod, a restarted container starts in its previous root
/// when that is as made: where it is, times set back. One its guest changed goes aside,
/// and the new instance gets a new root.
#[test]
fn a_restart_with_no_instance_left_starts_in_the_root_left_as_made() {
    use std::os::unix::fs::MetadataExt as _;
    let Some((base, spares)) = memory_spares() else {
        return;
    };
    let c = &plan("", "").containers[0];
    let dirs = pod(base.path(), &spares, "a.");
    let first = root_of(&dirs);
    let early = std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_000_000_000);
    let tmp = std::fs::File::open(first.join("tmp")).unwrap();
    tmp.set_times(std::fs::FileTimes::new().set_modified(early))
        .unwrap();
    let again = dirs.preopens_reusing(c, true).unwrap();
    assert_eq!(again[0].host, first);
    assert_as_made(&first);
    let mtime = std::fs::metadata(first.join("tmp")).unwrap().mtime();
    assert_ne!(mtime, 1_000_000_000);
    assert_eq!(names_in(base.path()), ["a.app"]);

    std::fs::write(first.join("tmp/f"), "x").unwrap();
    let next = dirs.preopens_reusing(c, true).unwrap();
    assert_eq!(next[0].host, first, "a new root at the container's path");
    assert_as_made(&first);
    let names = names_in(base.path());
    assert!(
        names.len() == 2 && names[1].starts_with("a.app.old-"),
        "{names:?}"
    );
    dirs.remove_stale();
    assert_eq!(names_in(base.path()), ["a.app"]);
    // Without the promise that no instance is left, the root is never reused.
    let aside = dirs.preopens_for(c).unwrap();
    assert_eq!(aside[0].host, first);
    assert_eq!(names_in(base.path()).len(), 2);
}
