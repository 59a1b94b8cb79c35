//! `Runtime::compiling`: what a progress display shows while an image compiles.

use std::path::Path;
use std::time::Duration;

use wasmpod::{Runtime, RuntimeConfig};

#[tokio::test]
async fn an_image_is_listed_while_it_compiles_and_not_after() {
    // A runtime of its own, with no disk cache: the image really compiles.
    let runtime = Runtime::new(
        RuntimeConfig::default()
            .with_cache_dir(None)
            .with_guest_threads(1),
    )
    .expect("runtime");
    let path = std::path::PathBuf::from(wasmpod_guests::HOSTILE_PATH);
    let size = std::fs::metadata(&path).expect("the guest is built").len();
    let mut compiling = runtime.compiling();
    assert!(compiling.borrow().is_empty());

    let load = tokio::spawn({
        let (runtime, path) = (runtime.clone(), path.clone());
        async move {
            let image = path.to_str().expect("a UTF-8 path");
            runtime.prepare_image(image, Path::new("/")).await
        }
    });
    // Compiling takes far longer than this task needs to see the listing.
    let listed = tokio::time::timeout(
        Duration::from_secs(120),
        compiling.wait_for(|list| !list.is_empty()),
    )
    .await
    .expect("the compile was listed")
    .expect("the runtime lives")
    .clone();
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0].image, path.display().to_string());
    assert_eq!(listed[0].bytes, size);

    load.await.expect("no panic").expect("the image loads");
    assert!(
        runtime.compiling().borrow().is_empty(),
        "unlisted once compiled"
    );
}
