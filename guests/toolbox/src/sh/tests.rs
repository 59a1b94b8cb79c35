//! Native unit tests of the shell: lexer, parser, expansion and execution.

use super::lexer::{Lexer, Tok};
use super::parser::{Command, Compound, parse};
use super::word::{ParamOp, Part};
use crate::io::Io;

fn lit(text: &str, quoted: bool) -> Part {
    Part::Lit {
        text: text.into(),
        quoted,
    }
}

fn tokens(src: &str) -> Vec<Tok> {
    let mut lx = Lexer::new(src);
    let mut out = Vec::new();
    loop {
        let t = lx.next_token().unwrap();
        if t == Tok::Eof {
            return out;
        }
        out.push(t);
    }
}

/// Held while a shell runs in a test. The shell's `cd` changes the
/// process's working directory, and each shell puts back the one it started
/// in: a guest is a process of its own, but these tests are threads of one,
/// so two shells at once (any test's, `sh -c` from `main`'s tests too) moved
/// each other's relative paths (a test's files landed in the package
/// directory). One at a time; a shell a shell runs takes its caller's turn.
pub(super) fn one_shell_at_a_time() -> impl Drop {
    use std::cell::Cell;
    use std::sync::{Mutex, MutexGuard};
    static TURN: Mutex<()> = Mutex::new(());
    thread_local!(static DEPTH: Cell<usize> = const { Cell::new(0) });
    struct Turn {
        _held: Option<MutexGuard<'static, ()>>,
    }
    impl Drop for Turn {
        fn drop(&mut self) {
            DEPTH.with(|d| d.set(d.get() - 1));
        }
    }
    let outermost = DEPTH.with(|d| {
        d.set(d.get() + 1);
        d.get() == 1
    });
    Turn {
        _held: outermost.then(|| TURN.lock().unwrap_or_else(|e| e.into_inner())),
    }
}

/// Runs `sh -c SCRIPT` with `stdin`; returns (status, stdout, stderr).
fn sh_in(script: &str, stdin: &str) -> (i32, String, String) {
    let (mut io, out, err) = Io::capture(stdin);
    io.env = std::rc::Rc::new(vec![
        ("HOME".into(), "/root".into()),
        ("GREETING".into(), "hi there".into()),
    ]);
    let args: Vec<String> = ["sh", "-c", script, "myname", "a b", "c"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let status = super::main(&args, &mut io);
    let out = String::from_utf8(out.borrow().clone()).unwrap();
    let err = String::from_utf8(err.borrow().clone()).unwrap();
    (status, out, err)
}

fn sh(script: &str) -> (i32, String, String) {
    sh_in(script, "")
}

fn out(script: &str) -> String {
    let (status, out, err) = sh(script);
    assert_eq!(status, 0, "script {script:?} failed: {err}");
    out
}

fn temp_dir(name: &str) -> String {
    let dir = std::env::temp_dir().join(format!("toolbox-test-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir.to_string_lossy().into_owned()
}

#[test]
fn lexes_quotes_and_expansions() {
    let toks = tokens(r#"echo 'a b'"c $X"\$ ${Y:-d} 2>&1 # comment"#);
    assert_eq!(toks[0], Tok::Word(vec![lit("echo", false)]));
    let Tok::Word(w) = &toks[1] else { panic!() };
    assert_eq!(w[0], lit("a b", true));
    assert_eq!(w[1], lit("c ", true));
    assert!(matches!(&w[2], Part::Param { name, quoted: true, .. } if name == "X"));
    assert_eq!(w[3], lit("$", true));
    let Tok::Word(w) = &toks[2] else { panic!() };
    assert!(matches!(
        &w[0],
        Part::Param {
            op: ParamOp::Default { colon: true, .. },
            ..
        }
    ));
    assert!(matches!(toks[3], Tok::Redir { fd: Some(2), .. }));
    assert_eq!(toks[4], Tok::Word(vec![lit("1", false)]));
    assert_eq!(toks.len(), 5);
}

#[test]
fn parses_compound_commands() {
    let list = parse("if true; then echo y; elif false; then :; else echo n; fi").unwrap();
    let Command::Compound(
        Compound::If {
            branches,
            otherwise,
        },
        _,
    ) = &list[0].first.commands[0]
    else {
        panic!("not an if")
    };
    assert_eq!(branches.len(), 2);
    assert!(otherwise.is_some());
    for src in [
        "while true; do break; done",
        "until false\ndo :\ndone",
        "for x in a b; do echo $x; done",
        "case x in a|b) echo ab;; *) echo other;; esac",
        "f() { echo f; }",
        "{ echo a; echo b; } > /dev/null",
        "(cd / && pwd)",
        "! true | false && echo x || echo y",
        "cat <<EOF\nbody\nEOF\n",
    ] {
        parse(src).unwrap_or_else(|e| panic!("{src}: {e:?}"));
    }
}

#[test]
fn reports_syntax_errors() {
    assert_eq!(
        parse("if true; then").unwrap_err().0,
        "unexpected end of file (expecting 'fi')"
    );
    assert_eq!(
        parse("echo 'abc").unwrap_err().0,
        "unterminated quoted string"
    );
    assert_eq!(parse("fi").unwrap_err().0, "unexpected 'fi'");
    assert!(parse("sleep 1 &").unwrap_err().0.contains("background"));
    let (status, _, err) = sh("echo ok; done");
    assert_eq!(status, 2);
    assert_eq!(err, "sh: syntax error: unexpected 'done'\n");
}

#[test]
fn runs_simple_commands_and_status() {
    assert_eq!(out("echo hello world"), "hello world\n");
    assert_eq!(sh("exit 3").0, 3);
    assert_eq!(sh("false").0, 1);
    assert_eq!(out("false; echo $?"), "1\n");
    assert_eq!(
        out("true && echo a || echo b; false && echo c || echo d"),
        "a\nd\n"
    );
    assert_eq!(out("! false && echo negated"), "negated\n");
    let (status, _, err) = sh("nosuchcmd");
    assert_eq!((status, err.as_str()), (127, "sh: nosuchcmd: not found\n"));
}

#[test]
fn expands_parameters() {
    assert_eq!(
        out("X=1; Y=\"$X two\"; echo \"$Y\" ${Z:-dflt} ${X:+alt}"),
        "1 two dflt alt\n"
    );
    assert_eq!(out("echo $0 $# \"$1\" $2"), "myname 2 a b c\n");
    assert_eq!(
        out("for a in \"$@\"; do echo \"[$a]\"; done"),
        "[a b]\n[c]\n"
    );
    assert_eq!(
        out("for a in $@; do echo \"[$a]\"; done"),
        "[a]\n[b]\n[c]\n"
    );
    assert_eq!(out("echo \"$*\""), "a b c\n");
    assert_eq!(
        out("P=/a/b/c.txt; echo ${P##*/} ${P%.txt} ${P#/*/} ${#P}"),
        "c.txt /a/b/c b/c.txt 10\n"
    );
    assert_eq!(out("echo ${U:=set}; echo $U"), "set\nset\n");
    assert_eq!(
        out("echo $GREETING; echo \"$GREETING\""),
        "hi there\nhi there\n"
    );
    assert_eq!(
        out("V='  a   b  '; for w in $V; do echo \"<$w>\"; done"),
        "<a>\n<b>\n"
    );
    assert_eq!(out("IFS=:; V=x:y; for w in $V; do echo $w; done"), "x\ny\n");
    assert_eq!(
        out("echo '$HOME' \"\\$HOME\" \\$HOME $HOME"),
        "$HOME $HOME $HOME /root\n"
    );
    let (status, _, err) = sh("echo ${MISSING:?is required}");
    assert_eq!((status, err.as_str()), (1, "sh: MISSING: is required\n"));
}

#[test]
fn command_substitution_and_arithmetic() {
    assert_eq!(out("X=$(echo a; echo b); echo \"$X\""), "a\nb\n");
    assert_eq!(out("echo `echo back`"), "back\n");
    assert_eq!(
        out("echo \"$(echo \"nested $(echo deep)\")\""),
        "nested deep\n"
    );
    assert_eq!(out("X=$(exit 4); echo $?"), "4\n");
    assert_eq!(
        out("i=0; while [ $i -lt 3 ]; do i=$((i + 1)); done; echo $i $((2 * (3 + 4)))"),
        "3 14\n"
    );
    assert_eq!(out("echo $(( $# * 10 ))"), "20\n");
}

#[test]
fn control_flow() {
    let script = "for x in 1 2 3 4; do
        if [ $x = 2 ]; then continue; fi
        if [ $x = 4 ]; then break; fi
        echo $x
    done";
    assert_eq!(out(script), "1\n3\n");
    assert_eq!(
        out("n=0; until [ $n -ge 2 ]; do n=$((n+1)); echo $n; done"),
        "1\n2\n"
    );
    let case = "for f in a.txt b.log c; do case $f in *.txt) echo text;; *.log|*.err) echo log;; *) echo other;; esac; done";
    assert_eq!(out(case), "text\nlog\nother\n");
    assert_eq!(
        out("greet() { echo \"hello $1\"; return 3; }; greet you; echo $?"),
        "hello you\n3\n"
    );
    assert_eq!(
        out("X=outer; (X=inner; echo $X); echo $X"),
        "inner\nouter\n"
    );
    assert_eq!(out("{ echo a; echo b; } | wc -l"), "2\n");
}

#[test]
fn errexit_and_traps() {
    let (status, output, _) = sh("set -e; echo one; false; echo two");
    assert_eq!((status, output.as_str()), (1, "one\n"));
    assert_eq!(
        out("set -e; false || true; if false; then :; fi; echo survived"),
        "survived\n"
    );
    let (status, output, _) = sh("trap 'echo bye' EXIT; echo hi; exit 5");
    assert_eq!((status, output.as_str()), (5, "hi\nbye\n"));
    assert_eq!(out("trap 'echo x' INT; trap"), "trap -- 'echo x' INT\n");
    let (status, _, err) = sh("trap 'echo x' BOGUS");
    assert_eq!(status, 1);
    assert!(err.contains("invalid signal"), "{err}");
}

#[test]
fn pipelines_and_redirections() {
    let dir = temp_dir("redir");
    let script = format!(
        "cd {dir} && echo one > f && echo two >> f && cat < f | grep t; \
         ls nope 2> err; grep -c nope err; \
         (echo out; ls nope) > both 2>&1; wc -l < both; \
         echo gone > /dev/null; cat <<EOF
line \"$HOME\"
EOF
cat <<'EOF'
raw $HOME
EOF"
    );
    assert_eq!(out(&script), "two\n1\n2\nline \"/root\"\nraw $HOME\n");
    assert_eq!(out("printf 'a\\nb\\nc\\n' | tail -n 2 | head -n 1"), "b\n");
    assert_eq!(sh("false | true").0, 0);
    assert_eq!(sh("set -o pipefail; false | true").0, 1);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn globbing_and_read() {
    let dir = temp_dir("glob");
    for f in ["a.txt", "b.txt", "c.log"] {
        std::fs::write(format!("{dir}/{f}"), "x\n").unwrap();
    }
    assert_eq!(
        out(&format!("for f in {dir}/*.txt; do basename $f; done")),
        "a.txt\nb.txt\n"
    );
    assert_eq!(
        out(&format!("echo {dir}/*.none")),
        format!("{dir}/*.none\n")
    );
    assert_eq!(
        out(&format!("echo \"{dir}/*.txt\"")),
        format!("{dir}/*.txt\n")
    );
    let script = "while read -r a b; do echo \"[$a|$b]\"; done";
    assert_eq!(sh_in(script, "1 2 3\nx\n").1, "[1|2 3]\n[x|]\n");
    assert_eq!(sh_in("read x; read y; echo $y$x", "1\n2\n").1, "21\n");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn export_env_and_nested_shells() {
    assert_eq!(
        out("export A=\"1 2\"; B=3 env | grep -E '^(A|B)='"),
        "A=1 2\nB=3\n"
    );
    assert_eq!(out("C=local; env | grep -c '^C=' ; true"), "0\n");
    assert_eq!(out("sh -c 'echo inner $0' zero"), "inner zero\n");
    assert_eq!(sh("sh -c 'exit 9'; exit $?").0, 9);
    assert_eq!(
        out("IFS=, read -r a b <<EOF\nx,y\nEOF\necho $a-$b; echo \"[$IFS]\" | wc -c"),
        "x-y\n3\n"
    );
}
