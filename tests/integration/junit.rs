//! `wasmpod run --junit FILE`: one JUnit test case per pod that runs to an end, failed
//! with the pod's reason and the tail of its output; serving pods are not test cases.

use crate::cli::Workspace;

#[test]
fn junit_has_a_case_per_finite_pod_with_the_output_of_failures() {
    let ws = Workspace::new();
    let report = ws.run_dir().with_extension("junit.xml");
    let pod = |name: &str, policy: &str, script: &str| {
        format!(
            "apiVersion: v1\nkind: Pod\nmetadata: {{name: {name}}}\nspec:\n  restartPolicy: {policy}\n  containers:\n  - name: main\n    image: busybox\n    command: [sh, -c, {script:?}]\n"
        )
    };
    let yaml = [
        pod("passes", "Never", "echo fine"),
        pod("fails", "Never", "echo 'expected <b> & \"quotes\"'; exit 3"),
        pod("serves", "Always", "sleep 1"),
    ]
    .join("---\n");
    let ran = ws.run_yaml(
        &yaml,
        &["--junit", report.to_str().unwrap(), "--timeout", "20s"],
    );
    // `serves` never ends by itself: the run is stopped by its timeout.
    ran.assert_code(124);
    let xml = std::fs::read_to_string(&report).unwrap_or_else(|e| panic!("{e}\n{ran}"));
    assert!(xml.starts_with("<?xml"), "{xml}");
    assert!(
        xml.contains("tests=\"2\"") && xml.contains("failures=\"1\""),
        "{xml}"
    );
    assert!(xml.contains("<testcase name=\"pod/passes\""), "{xml}");
    assert!(
        !xml.contains("pod/serves"),
        "a serving pod is no test case: {xml}"
    );
    let failed = &xml[xml
        .find("<testcase name=\"pod/fails\"")
        .expect("the failed case")..];
    assert!(
        failed.contains("message=\"pod Failed; main: Error (exit 3)\""),
        "{failed}"
    );
    // The output is escaped XML: the text comes back exactly.
    assert!(
        failed.contains("main | expected &lt;b&gt; &amp; \"quotes\"")
            || failed.contains("main | expected &lt;b&gt; &amp; &quot;quotes&quot;"),
        "{failed}"
    );
    let passed = &xml[xml.find("<testcase name=\"pod/passes\"").unwrap()..];
    let passed = &passed[..passed.find("</testcase>").unwrap_or(passed.len())];
    assert!(
        !passed.contains("fine"),
        "a passing case keeps no output: {passed}"
    );
}

/// A Job is a test case too (`job/<name>`): a completed one passes, one past its
/// `backoffLimit` fails with its `Failed` condition and its pods' output.
#[test]
fn junit_has_a_case_per_job() {
    let ws = Workspace::new();
    let report = ws.run_dir().with_extension("junit.xml");
    let job = |name: &str, script: &str| {
        format!(
            "apiVersion: batch/v1\nkind: Job\nmetadata: {{name: {name}}}\nspec:\n  backoffLimit: 0\n  template:\n    spec:\n      restartPolicy: Never\n      containers:\n      - name: main\n        image: busybox\n        command: [sh, -c, {script:?}]\n"
        )
    };
    let yaml = [
        job("migrate", "echo migrated"),
        job("check", "echo check went wrong; exit 2"),
    ]
    .join("---\n");
    let ran = ws.run_yaml(
        &yaml,
        &["--junit", report.to_str().unwrap(), "--timeout", "60s"],
    );
    ran.assert_code(1);
    let xml = std::fs::read_to_string(&report).unwrap_or_else(|e| panic!("{e}\n{ran}"));
    assert!(
        xml.contains("tests=\"2\"") && xml.contains("failures=\"1\""),
        "{xml}"
    );
    assert!(xml.contains("<testcase name=\"job/migrate\""), "{xml}");
    let failed = &xml[xml
        .find("<testcase name=\"job/check\"")
        .expect("the failed case")..];
    assert!(
        failed.contains(
            "message=\"BackoffLimitExceeded: Job has reached the specified backoff limit\""
        ),
        "{failed}"
    );
    assert!(failed.contains("main | check went wrong"), "{failed}");
}
