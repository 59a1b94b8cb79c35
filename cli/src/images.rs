//! `wasmpod pull`, `wasmpod push`, `wasmpod images` and `wasmpod rmi`, the pull progress display, and a
//! pod's pull secrets from the Secrets of its file.

use std::io::{IsTerminal, Write};
use std::process::ExitCode;
use std::time::Duration;

use wasmpod::{LayerProgress, PullSecret, Runtime, ValidPod};

use super::args::{ImagesArgs, PullArgs, PushArgs, RmiArgs};
use super::engine::runtime;
use super::exit::{EXIT_SUCCEEDED, Failure};
use super::output::note;
use super::progress::size;

/// `wasmpod pull REF`: pulls into the store, showing progress; prints the image ID.
pub async fn pull(args: PullArgs) -> Result<ExitCode, Failure> {
    let rt = runtime(&args.engine)?;
    let record = while_pulling(&rt, rt.pull_image(&args.reference, &[])).await?;
    note(&format!(
        "pulled {} ({}, {}, {})",
        record.reference,
        record.kind,
        size(record.size),
        record.manifest_digest
    ));
    println!("{}", record.image_id);
    Ok(ExitCode::from(EXIT_SUCCEEDED))
}

/// `wasmpod push FILE REF`: publishes a TAG-Runtime Wasm artifact; prints its digest.
pub async fn push(args: PushArgs) -> Result<ExitCode, Failure> {
    let rt = runtime(&args.engine)?;
    let digest = rt.push_image(&args.file, &args.reference, &[]).await?;
    note(&format!(
        "pushed {} to {}",
        args.file.display(),
        args.reference
    ));
    println!("{digest}");
    Ok(ExitCode::from(EXIT_SUCCEEDED))
}

/// `wasmpod images`: the store's images, one line each.
pub fn list(args: ImagesArgs) -> Result<ExitCode, Failure> {
    let rt = runtime(&args.engine)?;
    let rows: Vec<[String; 5]> = rt
        .images()
        .into_iter()
        .map(|i| {
            [
                i.record.reference.clone(),
                short(&i.record.manifest_digest),
                size(i.record.size),
                i.record.kind.trim_start_matches("wasi").to_string(),
                if i.compiled { "yes" } else { "no" }.to_string(),
            ]
        })
        .collect();
    print!(
        "{}",
        table(&["REFERENCE", "DIGEST", "SIZE", "KIND", "COMPILED"], &rows)
    );
    Ok(ExitCode::from(EXIT_SUCCEEDED))
}

/// `wasmpod rmi REF`.
pub fn remove(args: RmiArgs) -> Result<ExitCode, Failure> {
    let rt = runtime(&args.engine)?;
    if !rt.remove_image(&args.reference)? {
        return Err(Failure::from(anyhow::anyhow!(
            "image {:?} is not in the local image store",
            args.reference
        )));
    }
    note(&format!("removed {}", args.reference));
    Ok(ExitCode::from(EXIT_SUCCEEDED))
}

/// The credentials of `pod`'s `imagePullSecrets`, from the Secrets the file applied to the
/// runtime's cluster; a missing or unreadable one is a warning (the kubelet goes on
/// without it too).
pub fn pull_secrets(rt: &Runtime, pod: &ValidPod) -> Vec<PullSecret> {
    let (secrets, warnings) = rt.pull_secrets(pod);
    for w in warnings {
        note(&format!(
            "warning: pod {}: {w}",
            pod.document.display_name()
        ));
    }
    secrets
}

/// Runs `work`, showing the runtime's layer downloads: on a terminal a line per layer
/// under way (bytes, rate), redrawn; otherwise one line per finished layer.
pub async fn while_pulling<F: Future>(runtime: &Runtime, work: F) -> F::Output {
    let terminal = std::io::stderr().is_terminal();
    let mut pulls = runtime.pulls();
    let mut reported: Vec<(String, String)> = pulls
        .borrow_and_update()
        .iter()
        .filter(|l| l.done)
        .map(|l| (l.reference.clone(), l.digest.clone()))
        .collect();
    let mut tick = tokio::time::interval(Duration::from_millis(250));
    let mut work = std::pin::pin!(work);
    let mut drawn = false;
    loop {
        let ended = tokio::select! {
            out = &mut work => Some(out),
            _ = tick.tick() => None,
            _ = pulls.changed() => None,
        };
        let now = pulls.borrow_and_update().clone();
        let mut err = std::io::stderr().lock();
        if drawn {
            let _ = write!(err, "\r\x1b[2K");
            drawn = false;
        }
        for layer in now.iter().filter(|l| l.done) {
            let key = (layer.reference.clone(), layer.digest.clone());
            if !reported.contains(&key) {
                let _ = writeln!(err, "{}", finished(layer));
                reported.push(key);
            }
        }
        if let Some(out) = ended {
            let _ = err.flush();
            return out;
        }
        let under_way: Vec<String> = now.iter().filter(|l| !l.done).map(describe).collect();
        if terminal && !under_way.is_empty() {
            let _ = write!(err, "{}", under_way.join("  "));
            drawn = true;
        }
        let _ = err.flush();
    }
}

/// `sha256:0671d5f1f481: 1.2 MB / 20.4 MB (3.1 MB/s)`
fn describe(l: &LayerProgress) -> String {
    let secs = l.since.elapsed().as_secs_f64().max(0.001);
    format!(
        "{}: {} / {} ({}/s)",
        short(&l.digest),
        size(l.bytes),
        size(l.total),
        size((l.bytes as f64 / secs) as u64)
    )
}

/// `pulled layer sha256:0671d5f1f481 (20.4 MB) for docker.io/acme/api:1.4`
fn finished(l: &LayerProgress) -> String {
    format!(
        "pulled layer {} ({}) for {}",
        short(&l.digest),
        size(l.bytes),
        l.reference
    )
}

/// A digest shortened as docker shows one: the algorithm and 12 hex digits.
fn short(digest: &str) -> String {
    match digest.split_once(':') {
        Some((alg, hex)) => format!("{alg}:{}", &hex[..hex.len().min(12)]),
        None => digest.to_string(),
    }
}

/// Left-aligned columns, as `docker images` prints them.
fn table(header: &[&str; 5], rows: &[[String; 5]]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.len());
        }
    }
    let line = |cells: Vec<&str>| {
        let mut s = String::new();
        for (i, (cell, w)) in cells.iter().zip(&widths).enumerate() {
            if i + 1 == cells.len() {
                s.push_str(cell);
            } else {
                s.push_str(&format!("{cell:<w$}   "));
            }
        }
        s.push('\n');
        s
    };
    let mut out = line(header.to_vec());
    for row in rows {
        out.push_str(&line(row.iter().map(String::as_str).collect()));
    }
    out
}

/// The first failed image pull of a running pod (a restart under `imagePullPolicy: Always`
/// pulls again): `pod P, container C: message`. `wasmpod run` stops there with exit 2, as it
/// does when a pull fails while the pod is created; the library keeps the pod retrying as a
/// node does. Never resolves while every pull succeeds.
pub(crate) async fn first_pull_failure(handles: &[wasmpod::PodHandle]) -> String {
    let (tx, mut rx) = tokio::sync::mpsc::channel(1);
    // Dropped (aborting the watchers) when the caller stops waiting.
    let mut watchers = tokio::task::JoinSet::new();
    for h in handles {
        let (pod, mut watch, tx) = (h.name().to_string(), h.watch(), tx.clone());
        watchers.spawn(async move {
            loop {
                let found = pull_failure(&pod, &watch.borrow_and_update());
                if let Some(found) = found {
                    let _ = tx.send(found).await;
                    return;
                }
                if watch.changed().await.is_err() {
                    return;
                }
            }
        });
    }
    drop(tx);
    match rx.recv().await {
        Some(failure) => failure,
        None => std::future::pending().await,
    }
}

/// A container of `pod` waiting with `ErrImagePull`, as `pod P, container C: message`.
fn pull_failure(pod: &str, p: &k8s_openapi::api::core::v1::Pod) -> Option<String> {
    let status = p.status.as_ref()?;
    let containers = status.init_container_statuses.iter().flatten();
    containers
        .chain(status.container_statuses.iter().flatten())
        .find_map(|c| {
            let w = c.state.as_ref()?.waiting.as_ref()?;
            (w.reason.as_deref() == Some("ErrImagePull")).then(|| {
                let message = w.message.as_deref().unwrap_or_default();
                format!("pod {pod}, container {}: {message}", c.name)
            })
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_image_table_lines_up() {
        let rows = vec![[
            "localhost:5000/app:1".to_string(),
            short(&format!("sha256:{}", "ab".repeat(32))),
            "1.2 MB".into(),
            "p2".into(),
            "no".into(),
        ]];
        let text = table(&["REFERENCE", "DIGEST", "SIZE", "KIND", "COMPILED"], &rows);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2);
        assert!(
            lines[1].starts_with("localhost:5000/app:1   sha256:abababababab   1.2 MB"),
            "{text}"
        );
        assert_eq!(lines[0].find("DIGEST"), lines[1].find("sha256"));
    }
}
