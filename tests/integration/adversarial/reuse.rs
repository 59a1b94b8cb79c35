//! What an instance leaves in its memory is never seen by the next one. The pooling
//! allocator gives a freed slot to the next instance of the same image and, rather than
//! dropping the pages the last one touched, writes them back to the image's contents: a
//! guest that finds its predecessor's secrets there has broken out of its sandbox.

use wasmpod::{Phase, Runtime, RuntimeConfig, ValidPod};

use crate::support::{options, wat_file};

/// A wasip1 command that exits 3 unless its memory is as its module describes it — two
/// pages, "pristine" at 64 (a data segment), zeros at 4096 and 70,000 (the second page) —
/// then leaves a secret in all three places and in a page it grows.
const SNOOP: &str = r#"(module
  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
  (memory (export "memory") 2)
  (data (i32.const 64) "pristine")
  (func $expect (param i32)
    (if (i32.eqz (local.get 0)) (then (call $exit (i32.const 3)))))
  (func (export "_start")
    (call $expect (i32.eq (memory.size) (i32.const 2)))
    ;; "pris", little-endian
    (call $expect (i32.eq (i32.load (i32.const 64)) (i32.const 0x73697270)))
    (call $expect (i32.eqz (i32.load (i32.const 4096))))
    (call $expect (i32.eqz (i32.load (i32.const 70000))))
    (i32.store (i32.const 64) (i32.const 0x5ec2e7))
    (i32.store (i32.const 4096) (i32.const 0x5ec2e7))
    (i32.store (i32.const 70000) (i32.const 0x5ec2e7))
    (call $expect (i32.eq (memory.grow (i32.const 1)) (i32.const 2)))
    (i32.store (i32.const 140000) (i32.const 0x5ec2e7))))
"#;

async fn snoop_in_turn(rt: &Runtime, image: &std::path::Path) {
    let yaml = format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: snoop}}\nspec:\n  restartPolicy: Never\n  \
         containers:\n  - name: snoop\n    image: {}\n",
        image.display()
    );
    for turn in 0..6 {
        let pod = ValidPod::from_yaml(&yaml).expect("valid pod");
        let outcome = rt.run(pod, options()).await.expect("created").wait().await;
        assert_eq!(
            outcome.phase,
            Phase::Succeeded,
            "turn {turn}: the guest found another instance's memory: {:?}",
            outcome.pod.status
        );
    }
}

#[tokio::test]
async fn an_instance_never_sees_the_memory_its_predecessor_left_in_a_pool_slot() {
    let dir = tempfile::tempdir().unwrap();
    let image = wat_file(dir.path(), "snoop.wasm", SNOOP);
    // A pool of two instances (and one more per guest thread): once it is set up, every
    // turn takes a slot an earlier one used, and the same image's slot is the one
    // preferred.
    let pooled = Runtime::new(
        RuntimeConfig::default()
            .with_cache_dir(None)
            .with_pooled_instances(2)
            .with_max_instances_per_pod(2),
    )
    .expect("runtime");
    // The pool is set up, and the image loaded into it, in the background after the
    // runtime's first instances: turns until six have run in the pool.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    while pooled.instances().started_pooled < 6 && std::time::Instant::now() < deadline {
        snoop_in_turn(&pooled, &image).await;
    }
    let counts = pooled.instances();
    assert!(
        counts.started_pooled >= 6,
        "the pool was never used: {counts:?}"
    );
    // The same, with each instance's memory mapped afresh.
    let on_demand = Runtime::new(
        RuntimeConfig::default()
            .with_cache_dir(None)
            .with_pooled_instances(0),
    )
    .expect("runtime");
    snoop_in_turn(&on_demand, &image).await;
    assert_eq!(on_demand.instances().started_pooled, 0);
}
