//! Hostile manifests: path fields climbing out with `..`, `$(VAR)` expansion past the exec
//! limits, oversized annotations, and YAML too large or too deeply nested to parse.

use super::*;

/// A pod whose container `app` is on line 7; `extra` goes into the container from line 9.
fn with(extra: &str) -> String {
    pod(&format!(
        "  containers:\n  - name: app\n    image: app.wasm\n{extra}"
    ))
}

#[test]
fn path_fields_must_not_climb_out() {
    let p = problems(&with(
        "    terminationMessagePath: /../../../../tmp/victim\n    workingDir: /w/..\n    volumeMounts:\n    - {name: v, mountPath: /../../etc}\n  volumes:\n  - name: v\n    hostPath: {path: /var/../etc}\n",
    ));
    let dotdot = "must not contain '..'";
    has(&p, "spec.containers[0].terminationMessagePath", 9, dotdot);
    has(&p, "spec.containers[0].workingDir", 10, dotdot);
    has(
        &p,
        "spec.containers[0].volumeMounts[0].mountPath",
        12,
        dotdot,
    );
    has(&p, "spec.volumes[0].hostPath.path", 15, dotdot);
    assert_eq!(p.len(), 4, "{p:#?}");
}

#[test]
fn termination_message_path_must_be_absolute() {
    let p = problems(&with("    terminationMessagePath: dev/termination-log\n"));
    has(
        &p,
        "spec.containers[0].terminationMessagePath",
        9,
        "must be an absolute path",
    );
}

#[test]
fn dots_inside_a_name_are_not_backsteps() {
    assert!(
        warnings(&with(
            "    terminationMessagePath: /var/..log/x..y\n    workingDir: /a/.../b\n    volumeMounts:\n    - {name: v, mountPath: /data.., subPath: a..b/c}\n  volumes:\n  - {name: v, hostPath: {path: /tmp/..x}}\n",
        ))
        .is_empty()
    );
}

#[test]
fn annotations_are_limited_to_256_kib_in_total() {
    let meta = |size: usize| {
        format!(
            "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\n  annotations:\n    ab: {}\n    c: d\nspec:\n{APP}",
            "x".repeat(size)
        )
    };
    // "ab" + value + "c" + "d": exactly the limit is fine, one more byte is not.
    let limit = crate::spec::MAX_ANNOTATIONS_BYTES;
    assert!(warnings(&meta(limit - 4)).is_empty());
    let p = problems(&meta(limit - 3));
    has(
        &p,
        "metadata.annotations",
        5,
        "Too long: may not be more than 262144 bytes",
    );
}

fn doubling(entries: usize) -> String {
    let mut env = String::from("    env:\n    - {name: V0, value: xxxxxxxxxxxxxxxx}\n");
    for i in 1..entries {
        env.push_str(&format!(
            "    - {{name: V{i}, value: '$(V{p})$(V{p})'}}\n",
            p = i - 1
        ));
    }
    with(&env)
}

#[test]
fn expansion_doubling_stops_at_max_arg_strlen() {
    // V0 is 16 bytes, V13 would be 128 KiB: one over with "V13=" and the NUL.
    let p = problems(&doubling(40));
    has(
        &p,
        "spec.containers[0].env[13].value",
        23,
        "Too long: \"V13=value\" may not be more than 131072 bytes (MAX_ARG_STRLEN) after $(VAR) expansion",
    );
    assert_eq!(p.len(), 1, "{p:#?}");
    assert!(warnings(&doubling(13)).is_empty());
}

#[test]
fn expansion_in_command_and_args_is_bounded() {
    let p = problems(&with(&format!(
        "    env: [{{name: A, value: {}}}]\n    command: [sh]\n    args: ['$(A)$(A)$(A)']\n",
        "a".repeat(50_000)
    )));
    has(
        &p,
        "spec.containers[0].args[0]",
        11,
        "Too long: may not be more than 131072 bytes (MAX_ARG_STRLEN)",
    );
    // Long but within MAX_ARG_STRLEN: fine.
    assert!(
        warnings(&with(&format!(
            "    env: [{{name: A, value: {}}}]\n    args: ['$(A)$(A)']\n",
            "a".repeat(50_000)
        )))
        .is_empty()
    );
}

#[test]
fn field_ref_values_count_too() {
    // An annotation read into the environment is one string too.
    let text = format!(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\n  annotations: {{big: {}}}\nspec:\n  containers:\n  - name: app\n    image: app.wasm\n    env:\n    - name: B\n      valueFrom: {{fieldRef: {{fieldPath: \"metadata.annotations['big']\"}}}}\n",
        "b".repeat(200_000)
    );
    let p = problems(&text);
    has(
        &p,
        "spec.containers[0].env[0].valueFrom",
        12,
        "(MAX_ARG_STRLEN)",
    );
}

#[test]
fn arguments_and_environment_together_are_bounded_by_arg_max() {
    let big = "y".repeat(100_000);
    let env: String = (0..25)
        .map(|i| format!("    - {{name: E{i}, value: {big}}}\n"))
        .collect();
    let p = problems(&with(&format!("    env:\n{env}")));
    // 20 entries of ~100 KB fit in 2 MiB, the 21st does not.
    has(
        &p,
        "spec.containers[0].env[20]",
        30,
        "may not be more than 2097152 bytes (ARG_MAX)",
    );
}

fn yaml_error(text: &str) -> (Option<usize>, String) {
    match parse(text) {
        Err(SpecError::Yaml { line, message, .. }) => (line, message),
        other => panic!("expected a YAML error, got {other:?}"),
    }
}

#[test]
fn deep_flow_nesting_is_refused_before_parsing() {
    let (line, message) = yaml_error(&format!(
        "apiVersion: v1\nkind: Pod\nspec: {}\n",
        "[".repeat(200_000)
    ));
    assert_eq!(line, Some(3));
    assert!(message.contains("nested more than 64 levels"), "{message}");
    // Balanced and well within the limit, in a string or not: parsed as usual.
    let (_, message) = yaml_error(&format!(
        "apiVersion: v1\nkind: Pod\nspec: {}{}\n",
        "[".repeat(60),
        "]".repeat(60)
    ));
    assert!(!message.contains("nested"), "{message}");
    let quoted = format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: p}}\nspec:\n  containers:\n  - name: a\n    image: a.wasm\n    args: ['{}', \"{}\"]\n    command:\n    - |\n      {}\n",
        "[".repeat(5000),
        "{".repeat(5000),
        "[{".repeat(5000),
    );
    assert!(load(&quoted).is_ok(), "brackets in strings are not nesting");
}

#[test]
fn deep_block_nesting_is_refused() {
    let mut text = String::from("apiVersion: v1\nkind: Pod\nmetadata:\n");
    for depth in 1..=150 {
        text.push_str(&" ".repeat(depth));
        text.push_str("a:\n");
    }
    let (line, message) = yaml_error(&text);
    // The root mapping is level 1, `metadata` 2, then one per `a:`.
    assert_eq!(line, Some(67));
    assert!(message.contains("nested more than 64 levels"), "{message}");
    let mut text = String::from("apiVersion: v1\nkind: Pod\nmetadata:\n");
    for depth in 1..=150 {
        text.push_str(&" ".repeat(depth));
        text.push_str("- \n");
    }
    assert!(yaml_error(&text).1.contains("nested more than 64"));
}

#[test]
fn documents_over_3_mib_are_refused() {
    let text = format!(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\n  annotations: {{a: '{}'}}\n",
        "x".repeat(4 << 20)
    );
    let (line, message) = yaml_error(&text);
    assert_eq!(line, None);
    assert!(
        message.contains("the most accepted is 3145728 bytes"),
        "{message}"
    );
}

#[test]
fn unreadable_yaml_with_many_brackets_is_refused_not_parsed() {
    // A tab where yaml-rust2 wants indentation makes its tokenizer stop; with more
    // brackets than the nesting limit after it, the nesting cannot be bounded.
    let text = format!("a:\n\t- b\nc: {}\n", "[".repeat(150_000));
    let (line, message) = yaml_error(&text);
    assert_eq!(line, Some(2), "{message}");
    assert!(message.contains("cannot be bounded"), "{message}");
}

#[test]
fn alias_expansion_is_bounded() {
    // Found by the fuzz smoke: 967 bytes, 18 s and 1.3 GB inside serde_yaml.
    let mut text = format!("a: &a [{}]\n", vec!["x"; 360].join(","));
    for (name, prev) in ["b", "c", "d", "e", "f", "g", "h"]
        .iter()
        .zip(["a", "b", "c", "d", "e", "f", "g"])
    {
        text.push_str(&format!(
            "{name}: &{name} [{}]\n",
            vec![format!("*{prev}"); 10].join(",")
        ));
    }
    text.push_str("apiVersion: v1\nkind: Pod\n");
    let (line, message) = yaml_error(&text);
    // b adds 10 × 361 nodes, c 10 × 3611, and d passes 100 000 at its second alias.
    assert_eq!(line, Some(4), "{message}");
    assert!(
        message.contains("aliases expand to more than 100000 nodes"),
        "{message}"
    );
    // Reusing a list a few times is fine.
    let reuse = format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: p}}\nspec:\n  containers:\n  - name: a\n    image: a.wasm\n    env: &env\n{}  - name: b\n    image: b.wasm\n    env: *env\n",
        (0..50)
            .map(|i| format!("    - {{name: V{i}, value: x}}\n"))
            .collect::<String>()
    );
    assert!(load(&reuse).is_ok());
}

#[test]
fn unreadable_yaml_with_aliases_is_refused_not_parsed() {
    let text = "a:\n\t- b\nc: *x\n";
    let (_, message) = yaml_error(text);
    assert!(message.contains("cannot be bounded"), "{message}");
}

#[test]
fn node_count_is_bounded() {
    let many = |n: usize| {
        format!(
            "apiVersion: v1\nkind: Pod\nmetadata: {{name: p}}\nspec:\n  containers:\n  - name: a\n    image: a.wasm\n    args: [{}]\n",
            vec!["a"; n].join(",")
        )
    };
    let (line, message) = yaml_error(&many(300_000));
    assert_eq!(line, Some(8), "{message}");
    assert!(message.contains("more than 250000 YAML nodes"), "{message}");
    // 10 000 arguments are fine.
    assert!(load(&many(10_000)).is_ok());
}

#[test]
fn a_long_flow_collection_is_cut_short() {
    // Deep and long: refused as too many nodes, without tokenising all of it first.
    let text = format!(
        "apiVersion: v1\nkind: Pod\nspec: {}{}\n",
        "[".repeat(200),
        "a,".repeat(1_000_000)
    );
    let (line, message) = yaml_error(&text);
    assert_eq!(line, Some(3), "{message}");
    assert!(message.contains("more than 250000 YAML nodes"), "{message}");
}
