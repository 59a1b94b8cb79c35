//! Floods: a guest writing to stdout, a connection or a UDP port faster than
//! anything reads, ignoring what `check-write` permits; and a guest filling
//! its log files.
//!
//! Each attack runs in a child `wasmpod run` (the integration tests share one
//! process, so its memory is noise) whose peak RSS (`VmHWM`) must stay within
//! [`RSS_BOUND`] of a baseline run of the same image doing nothing. Before
//! the fixes these attacks grew the host by gigabytes (stdout: ~2 GB in 3 s;
//! 8 M empty datagrams: 450 MB) or filled the disk (700 MiB of log in 10 s).

use std::fs::File;
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::hostile;
use crate::cli::{LIMIT, Workspace, shared_cache};
use crate::support::wasmpod_bin;

/// How far above the baseline a flooded host's peak RSS may go.
const RSS_BOUND: u64 = 150 << 20;

/// A finished `wasmpod run` whose memory was watched.
struct Measured {
    code: Option<i32>,
    /// The highest `VmHWM` seen while it ran, in bytes.
    peak: u64,
    stderr: String,
    /// The file holding its stdout (container lines, possibly many MiB).
    stdout: PathBuf,
    status: Value,
}

impl Measured {
    /// The status of container `name` (regular or init).
    fn container(&self, name: &str) -> &Value {
        let status = &self.status["status"];
        ["containerStatuses", "initContainerStatuses"]
            .iter()
            .filter_map(|list| status[list].as_array())
            .flatten()
            .find(|c| c["name"] == name)
            .unwrap_or_else(|| panic!("no status for {name}: {:#}", self.status))
    }

    /// `(exit code, message)` of the terminated container `name`.
    fn terminated(&self, name: &str) -> (i64, String) {
        let c = self.container(name);
        let t = &c["state"]["terminated"];
        let t = if t.is_null() {
            &c["lastState"]["terminated"]
        } else {
            t
        };
        let code = t["exitCode"]
            .as_i64()
            .unwrap_or_else(|| panic!("{name} did not terminate: {c:#}\n{}", self.stderr));
        (code, t["message"].as_str().unwrap_or("").to_string())
    }

    /// Whether a stdout line of `container` contains `text`.
    fn printed(&self, container: &str, text: &str) -> bool {
        let prefix = format!("{container} ");
        let file = BufReader::new(File::open(&self.stdout).expect("stdout file"));
        file.split(b'\n').map_while(Result::ok).any(|l| {
            let l = String::from_utf8_lossy(&l);
            l.starts_with(&prefix) && l.contains(text)
        })
    }

    #[track_caller]
    fn assert_bounded(&self, what: &str) {
        let base = baseline();
        eprintln!(
            "{what}: peak RSS {} MiB, baseline {} MiB",
            self.peak >> 20,
            base >> 20
        );
        assert!(
            self.peak < base + RSS_BOUND,
            "{what}: peak RSS {} MiB, baseline {} MiB, bound +{} MiB\n{}",
            self.peak >> 20,
            base >> 20,
            RSS_BOUND >> 20,
            self.stderr
        );
    }
}

/// `VmHWM` of process `pid` in bytes (0 once it is gone).
fn vm_hwm(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

/// Runs `yaml` with `wasmpod run ARGS` in `ws`, watching its peak RSS.
fn run_measured(ws: &Workspace, yaml: &str, args: &[&str]) -> Measured {
    run_watched(ws, yaml, args, None)
}

/// [`run_measured`]; with `slow`, its stdout is a pipe read 64 KiB every
/// 50 ms (a terminal nobody scrolls) until `slow(run dir)` says the flood is
/// over, then drained; the reader's text is then what `stdout` holds.
fn run_watched(
    ws: &Workspace,
    yaml: &str,
    args: &[&str],
    slow: Option<&dyn Fn(&Path) -> bool>,
) -> Measured {
    let file = ws.write("pod.yaml", yaml);
    // Compile (or find in the cache) first, so the run itself does not compile.
    let validated = Command::new(wasmpod_bin())
        .arg("validate")
        .arg("--cache-dir")
        .arg(shared_cache())
        .arg(&file)
        .output()
        .expect("wasmpod validate");
    assert!(validated.status.success(), "{validated:?}");
    let stdout = ws.dir.path().join("stdout");
    let stderr = ws.dir.path().join("stderr");
    let mut all = args.to_vec();
    all.push(&file);
    let out = match slow {
        Some(_) => Stdio::piped(),
        None => File::create(&stdout).unwrap().into(),
    };
    let mut child = ws
        .run_command(&all)
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(File::create(&stderr).unwrap())
        .spawn()
        .expect("start wasmpod");
    let over = Arc::new(AtomicBool::new(false));
    let reader = child.stdout.take().map(|mut pipe| {
        let (over, stdout) = (over.clone(), stdout.clone());
        std::thread::spawn(move || {
            let mut copy = File::create(stdout).unwrap();
            let mut buf = vec![0; 64 * 1024];
            while let Ok(n @ 1..) = pipe.read(&mut buf) {
                copy.write_all(&buf[..n]).unwrap();
                if !over.load(Ordering::Relaxed) {
                    std::thread::sleep(Duration::from_millis(50));
                }
            }
        })
    });
    let started = Instant::now();
    let mut peak = 0;
    let code = loop {
        peak = peak.max(vm_hwm(child.id()));
        if let Some(slow) = slow
            && slow(&ws.run_dir())
        {
            over.store(true, Ordering::Relaxed);
        }
        if let Some(status) = child.try_wait().expect("try_wait") {
            break status.code();
        }
        if started.elapsed() > LIMIT {
            let _ = child.kill();
            let _ = child.wait();
            panic!("wasmpod did not end within {LIMIT:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    if let Some(reader) = reader {
        reader.join().expect("stdout reader");
    }
    Measured {
        code,
        peak,
        stderr: std::fs::read_to_string(&stderr).unwrap_or_default(),
        stdout,
        status: ws.status(),
    }
}

/// The peak RSS of a run of the hostile image that writes nothing.
fn baseline() -> u64 {
    static BASELINE: OnceLock<u64> = OnceLock::new();
    *BASELINE.get_or_init(|| {
        let ws = Workspace::new();
        let ran = run_measured(&ws, &pod(&container("idle", "['log-flood', '0']")), &[]);
        assert_eq!(ran.code, Some(0), "{}", ran.stderr);
        ran.peak
    })
}

fn pod(spec: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: flood\nspec:\n  restartPolicy: Never\n{spec}"
    )
}

/// A `containers:` list with one hostile container running `args`.
fn container(name: &str, args: &str) -> String {
    format!(
        "  containers:\n  - name: {name}\n    image: {}\n    args: {args}\n",
        hostile()
    )
}

/// The log files of `container`'s instance 0, oldest first.
fn log_files(run_dir: &Path, container: &str) -> Vec<PathBuf> {
    let dir = run_dir.join("logs").join(container);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    // `0.log.<time>` sort by time; the current `0.log` is the newest.
    files.sort_by_key(|p| {
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        (name == "0.log", name)
    });
    files
}

fn read_lossy(path: &Path) -> String {
    String::from_utf8_lossy(&std::fs::read(path).unwrap()).into_owned()
}

#[test]
fn stdout_written_without_check_write_traps_instead_of_growing_the_host() {
    let ws = Workspace::new();
    // 64 KiB writes of 4096 short lines each: far more work for the host's
    // log pipeline than for the guest, so its channel fills at once.
    let yaml = pod(&container("flood", "['stdout-flood', '10']"));
    // The channel's worth of such lines is ~50 MiB of log: keep it all.
    let ran = run_measured(&ws, &yaml, &["--container-log-max-size", "100Mi"]);
    ran.assert_bounded("stdout flood");
    // The blind write that finds the log channel full traps the guest, as
    // WASI specifies; nothing is buffered beyond the channel.
    let (code, message) = ran.terminated("flood");
    assert_eq!(code, 134, "{message}\n{}", ran.stderr);
    assert!(message.contains("check-write"), "{message}");
    // What was written before arrived.
    let logs: String = log_files(&ws.run_dir(), "flood")
        .iter()
        .map(|f| read_lossy(f))
        .collect();
    assert!(logs.contains(" stdout F stdout-flood start\n"));
    assert!(logs.contains(" stdout F flood 00000000 \n"));
    assert!(logs.contains(" stdout F flood 00004000 \n"));
}

#[test]
fn a_tcp_flood_to_a_sibling_that_never_reads_traps_the_flooder_only() {
    let ws = Workspace::new();
    let spec = format!(
        "  initContainers:\n  - name: sink\n    image: {h}\n    restartPolicy: Always\n    args: ['tcp-sink', '9000']\n  containers:\n  - name: flood\n    image: {h}\n    args: ['tcp-flood', '9000', '5']\n",
        h = hostile()
    );
    let ran = run_measured(&ws, &pod(&spec), &[]);
    ran.assert_bounded("tcp flood");
    // The connection holds 64 KiB; the blind write that finds it full traps.
    let (code, message) = ran.terminated("flood");
    assert_eq!(code, 134, "{message}\n{}", ran.stderr);
    assert!(message.contains("check-write"), "{message}");
    // Connected: the sink was listening (the only listener on the port).
    assert!(ran.printed("flood", "tcp-flood connected"));
    // The sibling was untouched: it ran until the pod stopped it (perhaps
    // before it got round to accepting, or even to printing that it listens:
    // the flooder can connect, flood and trap between its listen and its
    // print on a loaded machine).
    let (sink_code, _) = ran.terminated("sink");
    assert_ne!(sink_code, 134, "the sink must not trap");
}

#[test]
fn empty_udp_datagrams_are_bounded_by_the_mailbox() {
    let ws = Workspace::new();
    let spec = format!(
        "  volumes:\n  - name: shared\n    emptyDir: {{}}\n  containers:\n  - name: sink\n    image: {h}\n    args: ['udp-sink', '5353', '/shared']\n    volumeMounts: [{{name: shared, mountPath: /shared}}]\n  - name: flood\n    image: {h}\n    args: ['udp-empty', '5353', '4000000', '/shared']\n    volumeMounts: [{{name: shared, mountPath: /shared}}]\n",
        h = hostile()
    );
    let ran = run_measured(&ws, &pod(&spec), &[]);
    ran.assert_bounded("4 M empty datagrams");
    assert_eq!(ran.code, Some(0), "{}", ran.stderr);
    assert!(ran.printed("flood", "udp-empty sent=4000000"));
    let out = std::fs::read_to_string(ws.run_dir().join("logs/sink/0.log")).unwrap();
    let received: u64 = out
        .split_once("udp-sink received=")
        .and_then(|(_, n)| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("{out}"));
    // 256 KiB mailbox / 256 bytes charged per datagram.
    assert!((1..=1024).contains(&received), "received {received}");
}

#[test]
fn log_files_are_rotated_and_capped() {
    let ws = Workspace::new();
    let yaml = pod(&container("flood", "['log-flood', '31457280']"));
    let args = [
        "--container-log-max-size",
        "1Mi",
        "--container-log-max-files",
        "3",
    ];
    let ran = run_measured(&ws, &yaml, &args);
    assert_eq!(ran.code, Some(0), "{}", ran.stderr);
    ran.assert_bounded("30 MiB of log");
    let files = log_files(&ws.run_dir(), "flood");
    let names: Vec<String> = files
        .iter()
        .map(|f| f.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        names.len(),
        3,
        "at most 3 files, and 30 MiB needs them all: {names:?}"
    );
    assert_eq!(names[2], "0.log", "{names:?}");
    assert!(
        names[..2].iter().all(|n| n.starts_with("0.log.")),
        "{names:?}"
    );
    for f in &files {
        let len = std::fs::metadata(f).unwrap().len();
        assert!(len <= 1 << 20, "{}: {len} bytes", f.display());
    }
    // Oldest to newest, without gaps between files: the line numbers go on.
    let numbers: Vec<Vec<u64>> = files
        .iter()
        .map(|f| {
            read_lossy(f)
                .lines()
                .filter_map(|l| l.split_once(" stdout F log-flood line "))
                .map(|(_, rest)| rest[..8].parse().unwrap())
                .collect()
        })
        .collect();
    for pair in numbers.windows(2) {
        assert_eq!(pair[0].last().unwrap() + 1, pair[1][0]);
    }
    let current = read_lossy(&files[2]);
    let last = current.lines().last().unwrap();
    let lines: u64 = last
        .split_once(" stdout F log-flood done lines=")
        .and_then(|(_, n)| n.parse().ok())
        .unwrap_or_else(|| panic!("{last}"));
    assert_eq!(numbers[2].last().unwrap() + 1, lines);
}

/// Whether `path` ends with `text` (reading only its tail).
fn ends_with(path: &Path, text: &str) -> bool {
    let Ok(mut f) = File::open(path) else {
        return false;
    };
    let len = f.metadata().map_or(0, |m| m.len());
    let mut tail = Vec::new();
    let from = len.saturating_sub(text.len() as u64 + 64);
    f.seek(SeekFrom::Start(from)).is_ok()
        && f.read_to_end(&mut tail).is_ok()
        && String::from_utf8_lossy(&tail)
            .trim_end()
            .ends_with(text.trim_end())
}

#[test]
fn a_terminal_that_is_not_drained_does_not_hold_long_lines() {
    let ws = Workspace::new();
    // 200 MB of 16 000-byte lines while the CLI's stdout is hardly read:
    // its printer falls behind and the lines wait in the pod's log channel.
    let yaml = pod(&container("flood", "['log-flood', '200000000', '16000']"));
    let over = |run: &Path| ends_with(&run.join("logs/flood/0.log"), "log-flood done lines=12500");
    let ran = run_watched(&ws, &yaml, &[], Some(&over));
    assert_eq!(ran.code, Some(0), "{}", ran.stderr);
    ran.assert_bounded("long lines for a terminal that is not read");
    // The far-behind terminal got lines cut short; the file has them whole.
    assert!(ran.printed("flood", "[cut: the reader is behind"));
    assert!(ends_with(
        &ws.run_dir().join("logs/flood/0.log"),
        "log-flood done lines=12500"
    ));
}

/// Two pods flood a stdout nobody reads while a third crash-loops: the CLI's
/// printers wait for the stuck terminal, but its runtime keeps driving the
/// pods (each printing stream has a writer thread of its own; before, each
/// blocked printer held one of the runtime's two workers and the restarts
/// stopped). The restarts show in the third pod's log files.
#[test]
fn a_stdout_nobody_reads_does_not_stop_the_pods() {
    let ws = Workspace::new();
    let flood = |name: &str| {
        format!(
            "apiVersion: v1\nkind: Pod\nmetadata:\n  name: {name}\nspec:\n  restartPolicy: Never\n{}",
            container("flood", "['log-flood', '50000000', '1000']")
        )
    };
    let crasher = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: crasher\nspec:\n  \
                   restartPolicy: Always\n  containers:\n  - name: c\n    image: busybox\n    \
                   command: ['sh', '-c', 'echo tick; exit 1']\n";
    let yaml = format!("{}---\n{}---\n{crasher}", flood("one"), flood("two"));
    let file = ws.write("pods.yaml", &yaml);
    let mut child = ws
        .run_command(&["--backoff-initial", "10ms", "--backoff-max", "10ms", &file])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(File::create(ws.dir.path().join("stderr")).unwrap())
        .spawn()
        .expect("start wasmpod");
    let logs = ws.run_dir().join("crasher/logs/c");
    // `N.log` is restart N's log; the oldest go as new ones come (a restart every
    // few milliseconds here): any from the fifth restart on shows it happened.
    let restarted = || {
        std::fs::read_dir(&logs)
            .into_iter()
            .flatten()
            .flatten()
            .any(|e| {
                let name = e.file_name();
                let n = name.to_string_lossy();
                n.strip_suffix(".log")
                    .and_then(|n| n.parse::<u32>().ok())
                    .is_some_and(|n| n >= 5)
            })
    };
    let started = Instant::now();
    // Nobody reads stdout until the crasher has restarted five times.
    let ok = loop {
        if restarted() {
            break true;
        }
        if started.elapsed() > Duration::from_secs(60) {
            break false;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let _ = child.kill();
    let mut rest = Vec::new();
    let _ = child.stdout.take().unwrap().read_to_end(&mut rest);
    let _ = child.wait();
    let stderr = std::fs::read_to_string(ws.dir.path().join("stderr")).unwrap_or_default();
    assert!(
        ok,
        "the crasher did not restart while stdout was stuck\n{stderr}"
    );
}
