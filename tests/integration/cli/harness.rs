//! Running the `wasmpod` binary from tests: a workspace per test (pod files,
//! `--run-dir`, `--status-file`), the process in the background with its
//! output in files, and what it printed, parsed. Used by `cli.rs` and
//! `examples.rs`.

use std::fmt;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::wasmpod_bin;

/// Longest a CLI run may take before the test gives up: this catches hangs,
/// it is not a performance bound.
pub(crate) const LIMIT: Duration = Duration::from_secs(180);

/// The compile cache shared by the CLI runs (the library tests use the same).
pub(crate) fn shared_cache() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("wasmpod-cache")
}

/// A temporary directory for one test: pod files, run directory, status file.
pub(crate) struct Workspace {
    pub dir: tempfile::TempDir,
}

impl Workspace {
    pub fn new() -> Self {
        Self {
            dir: tempfile::tempdir().expect("tempdir"),
        }
    }

    /// Writes `text` to `name` in the workspace; returns the path.
    pub fn write(&self, name: &str, text: &str) -> String {
        let path = self.dir.path().join(name);
        std::fs::write(&path, text).expect("write pod file");
        path.to_str().expect("utf-8 path").to_owned()
    }

    pub fn run_dir(&self) -> PathBuf {
        self.dir.path().join("run")
    }

    pub fn status_file(&self) -> PathBuf {
        self.dir.path().join("status.json")
    }

    /// The status file, parsed.
    pub fn status(&self) -> Value {
        let text = std::fs::read_to_string(self.status_file()).expect("the status file");
        serde_json::from_str(&text).expect("the status file is JSON")
    }

    /// `wasmpod run --run-dir .. --status-file .. ARGS`, plus `--color never`
    /// and the shared `--cache-dir` unless `args` set them (clap rejects an
    /// option given twice).
    pub fn run_command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(wasmpod_bin());
        cmd.arg("run").arg("--run-dir").arg(self.run_dir());
        cmd.arg("--status-file").arg(self.status_file());
        if !args.contains(&"--color") {
            cmd.args(["--color", "never"]);
        }
        if !args.contains(&"--cache-dir") {
            cmd.arg("--cache-dir").arg(shared_cache());
        }
        cmd.args(args).current_dir(self.dir.path());
        cmd
    }

    /// Runs `wasmpod run ARGS` to its end.
    pub fn run(&self, args: &[&str]) -> Ran {
        spawn(self.run_command(args), None).finish(LIMIT)
    }

    /// Writes `yaml` as `pod.yaml` and runs it, `args` before the file.
    pub fn run_yaml(&self, yaml: &str, args: &[&str]) -> Ran {
        let file = self.write("pod.yaml", yaml);
        let mut all = args.to_vec();
        all.push(&file);
        self.run(&all)
    }
}

/// A `wasmpod` process running in the background; killed if dropped early.
pub(crate) struct Running {
    child: Child,
    out: [File; 2],
    started: Instant,
}

/// Starts `cmd` with stdout and stderr going to temporary files (no pipe
/// can fill up), feeding it `stdin` if given.
pub(crate) fn spawn(mut cmd: Command, stdin: Option<&str>) -> Running {
    let out = [(); 2].map(|_| tempfile::tempfile().expect("tempfile"));
    cmd.stdout(out[0].try_clone().unwrap())
        .stderr(out[1].try_clone().unwrap())
        .stdin(stdin.map_or_else(Stdio::null, |_| Stdio::piped()));
    let started = Instant::now();
    let mut child = cmd.spawn().expect("start wasmpod");
    if let Some(text) = stdin {
        let mut pipe = child.stdin.take().expect("stdin pipe");
        pipe.write_all(text.as_bytes()).expect("write stdin");
    }
    Running {
        child,
        out,
        started,
    }
}

impl Running {
    /// The process id (to read its usage under `/proc`).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn has_exited(&mut self) -> bool {
        self.child.try_wait().expect("try_wait").is_some()
    }

    /// Waits for the end (killing the process and failing after `limit`).
    pub fn finish(mut self, limit: Duration) -> Ran {
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return self.collect(status.code());
            }
            if self.started.elapsed() > limit {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!(
                    "wasmpod did not end within {limit:?}\n{}",
                    self.collect(None)
                );
            }
            std::thread::sleep(Duration::from_millis(25));
        }
    }

    fn collect(&mut self, code: Option<i32>) -> Ran {
        let [stdout, stderr] = self.out.each_mut().map(|f| {
            let mut bytes = Vec::new();
            f.seek(SeekFrom::Start(0)).expect("seek");
            f.read_to_end(&mut bytes).expect("read output");
            String::from_utf8_lossy(&bytes).into_owned()
        });
        let elapsed = self.started.elapsed();
        Ran {
            code,
            stdout,
            stderr,
            elapsed,
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// A finished `wasmpod` run.
pub(crate) struct Ran {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    pub elapsed: Duration,
}

impl Ran {
    /// `(container, text)` for every `name | text` line on stdout, in order.
    pub fn output(&self) -> Vec<(&str, &str)> {
        let lines = self.stdout.lines();
        let lines: Option<Vec<_>> = lines
            .map(|l| l.split_once(" | ").map(|(c, t)| (c.trim_end(), t)))
            .collect();
        lines.unwrap_or_else(|| panic!("a stdout line without a prefix\n{self}"))
    }

    /// What `container` printed, in order.
    pub fn lines_of(&self, container: &str) -> Vec<&str> {
        let lines = self.output().into_iter();
        lines
            .filter(|(c, _)| *c == container)
            .map(|(_, t)| t)
            .collect()
    }

    /// Index on stdout of the first line of `container` containing `text`.
    #[track_caller]
    pub fn position(&self, container: &str, text: &str) -> usize {
        let mut lines = self.output().into_iter();
        let found = lines.position(|(c, t)| c == container && t.contains(text));
        found.unwrap_or_else(|| panic!("no {container:?} line with {text:?}\n{self}"))
    }

    /// stderr lines starting `wasmpod: `, without it (the continuation lines
    /// of a multi-line error have none).
    pub fn notes(&self) -> Vec<&str> {
        let lines = self.stderr.lines();
        lines.filter_map(|l| l.strip_prefix("wasmpod: ")).collect()
    }

    /// Events on stderr (`HH:MM:SS Type Reason object message`) as
    /// `(reason, object, message)`, in order.
    pub fn events(&self) -> Vec<(&str, &str, String)> {
        let notes = self.notes().into_iter();
        notes
            .filter_map(|n| {
                let mut words = n.split_whitespace();
                let (time, type_) = (words.next()?, words.next()?);
                let is_time = time.len() == 8 && time.matches(':').count() == 2;
                if !is_time || !matches!(type_, "Normal" | "Warning") {
                    return None;
                }
                let (reason, object) = (words.next()?, words.next()?);
                Some((reason, object, words.collect::<Vec<_>>().join(" ")))
            })
            .collect()
    }

    /// Messages of the events with `reason` about `container`.
    pub fn events_of(&self, container: &str, reason: &str) -> Vec<String> {
        let events = self.events().into_iter();
        events
            .filter(|(r, o, _)| *r == reason && names(o, container))
            .map(|e| e.2)
            .collect()
    }

    /// Index of the first event with `reason` about `container`.
    #[track_caller]
    pub fn event_position(&self, container: &str, reason: &str) -> usize {
        let mut events = self.events().into_iter();
        let found = events.position(|(r, o, _)| r == reason && names(o, container));
        found.unwrap_or_else(|| panic!("no {reason} event for {container}\n{self}"))
    }

    #[track_caller]
    pub fn assert_code(&self, code: i32) {
        assert_eq!(self.code, Some(code), "exit status\n{self}");
    }

    #[track_caller]
    pub fn assert_stderr_has(&self, fragment: &str) {
        let has = self.stderr.contains(fragment);
        assert!(has, "stderr lacks {fragment:?}\n{self}");
    }
}

impl fmt::Display for Ran {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (code, time) = (self.code, self.elapsed);
        let (out, err) = (&self.stdout, &self.stderr);
        write!(
            f,
            "exit status {code:?} after {time:?}\n--- stdout\n{out}--- stderr\n{err}---"
        )
    }
}

/// The status of `container` (init or regular) in a status-file Pod.
#[track_caller]
pub(crate) fn container_status<'a>(pod: &'a Value, container: &str) -> &'a Value {
    let lists = ["initContainerStatuses", "containerStatuses"].map(|l| &pod["status"][l]);
    let mut all = lists.into_iter().filter_map(Value::as_array).flatten();
    let found = all.find(|s| s["name"] == container);
    found.unwrap_or_else(|| panic!("no status for {container}: {pod:#}"))
}

/// Whether an event's object column (`spec.containers{app}`,
/// `spec.initContainers{init}`, as kubectl describe shows them) is `container`.
fn names(object: &str, container: &str) -> bool {
    [
        format!("spec.containers{{{container}}}"),
        format!("spec.initContainers{{{container}}}"),
    ]
    .contains(&object.to_string())
}
