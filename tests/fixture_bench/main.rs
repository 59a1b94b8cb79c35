//! Benchmark (issue 16): 200 tests, each starting a one-container fixture, waiting for a
//! line of its output and letting it go, run in parallel by `cargo test`; beside them the
//! anchor, 200 tests that do nothing, through the same harness. Every test is
//! `#[ignore]`d, so `cargo test --workspace` only compiles them:
//!
//! ```text
//! CARGO_TARGET_DIR=target/bench cargo test --profile bench -p wasmpod-cli --test fixture-bench -- --ignored --exact --skip x   # build once
//! time CARGO_TARGET_DIR=target/bench cargo test --profile bench -p wasmpod-cli --test fixture-bench -- --ignored fixture::
//! time CARGO_TARGET_DIR=target/bench cargo test --profile bench -p wasmpod-cli --test fixture-bench -- --ignored empty::
//! ```
//!
//! The difference of the two wall times, divided by 200, is a fixture's cost per test as
//! a `cargo test` run sees it (the libtest threads run them in parallel, one per core).

/// 20 tests of one kind, `t00` … `t19`.
macro_rules! twenty {
    ($body:expr) => {
        twenty!(@ $body; t00 t01 t02 t03 t04 t05 t06 t07 t08 t09 t10 t11 t12 t13 t14 t15 t16 t17 t18 t19);
    };
    (@ $body:expr; $($name:ident)*) => {
        $(
            #[tokio::test]
            #[ignore = "a benchmark: see the file's documentation"]
            async fn $name() {
                $body.await;
            }
        )*
    };
}

/// Ten modules of twenty tests.
macro_rules! two_hundred {
    ($kind:ident, $body:expr) => {
        mod $kind {
            mod m0 {
                twenty!($body);
            }
            mod m1 {
                twenty!($body);
            }
            mod m2 {
                twenty!($body);
            }
            mod m3 {
                twenty!($body);
            }
            mod m4 {
                twenty!($body);
            }
            mod m5 {
                twenty!($body);
            }
            mod m6 {
                twenty!($body);
            }
            mod m7 {
                twenty!($body);
            }
            mod m8 {
                twenty!($body);
            }
            mod m9 {
                twenty!($body);
            }
        }
    };
}

/// One fixture: a busybox container that prints and then waits to be let go.
async fn one_fixture() {
    let pod = wasmpod::testing::Fixture::start(
        "apiVersion: v1\nkind: Pod\nmetadata: {name: t}\nspec:\n  containers:\n  - name: c\n    image: busybox\n    command: [sh, -c, 'echo ready; sleep 3600']\n",
    )
    .await
    .expect("fixture");
    pod.log("c", "^ready$").await.expect("its line");
}

/// The anchor: a test that does nothing.
async fn nothing() {}

two_hundred!(fixture, crate::one_fixture());
two_hundred!(empty, crate::nothing());
