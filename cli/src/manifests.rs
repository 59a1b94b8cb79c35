//! Reading the manifests `wasmpod run` and `wasmpod validate` are given:
//! files, directories of them and standard input, each read with a bound.

use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::Context;
use wasmpod::spec::{self, LoadedFile};

use super::args::ManifestArgs;
use super::exit::{EXIT_INVALID, Failure};
use super::output::note;

/// Reads a manifest: at most one byte past the size the loader accepts, so
/// `/dev/zero` or an endless pipe cannot grow memory (the loader then names
/// the size limit). A pipe (`<(…)`, `-`) works as with any Unix tool.
/// Returns the text and the directory its relative image paths resolve against.
fn read_file(file: &Path) -> anyhow::Result<(String, PathBuf)> {
    let limit = spec::MAX_DOCUMENT_BYTES as u64 + 1;
    let read = |reader: &mut dyn Read| -> std::io::Result<String> {
        let mut bytes = Vec::new();
        reader.take(limit).read_to_end(&mut bytes)?;
        String::from_utf8(bytes)
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))
    };
    if file == Path::new("-") {
        let text =
            read(&mut std::io::stdin()).context("failed to read the pod from standard input")?;
        return Ok((text, std::env::current_dir()?));
    }
    let text = std::fs::File::open(file)
        .and_then(|mut f| read(&mut f))
        .with_context(|| format!("failed to read {}", file.display()))?;
    let base = file
        .parent()
        .map(Path::to_path_buf)
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or_else(|| ".".into());
    Ok((text, std::fs::canonicalize(&base).unwrap_or(base)))
}

/// The manifest files a path stands for: itself, or a directory's `*.yaml`, `*.yml` and
/// `*.json` files in name order, not its subdirectories (kubectl's `-f DIR` without `-R`).
fn manifest_files(path: &Path) -> anyhow::Result<Vec<PathBuf>> {
    if path == Path::new("-") || !path.is_dir() {
        return Ok(vec![path.to_path_buf()]);
    }
    let mut files = Vec::new();
    let entries =
        std::fs::read_dir(path).with_context(|| format!("failed to read {}", path.display()))?;
    for entry in entries {
        let entry = entry.with_context(|| format!("failed to read {}", path.display()))?;
        let file = entry.path();
        let manifest = file
            .extension()
            .is_some_and(|e| e == "yaml" || e == "yml" || e == "json");
        if manifest && !file.is_dir() {
            files.push(file);
        }
    }
    files.sort();
    if files.is_empty() {
        anyhow::bail!(
            "{}: the directory has no .yaml, .yml or .json file",
            path.display()
        );
    }
    Ok(files)
}

/// Reads and validates every manifest: one [`LoadedFile`] for all, and for each input (the
/// index of [`spec::PodDocument::input`]) the directory its relative image paths resolve
/// against.
pub(crate) fn load(manifests: &ManifestArgs) -> Result<(LoadedFile, Vec<PathBuf>), Failure> {
    let mut names = Vec::new();
    let mut texts = Vec::new();
    let mut bases = Vec::new();
    let mut stdin = false;
    for path in manifests.paths() {
        for file in manifest_files(path)? {
            let name = if file == Path::new("-") {
                if stdin {
                    return Err(anyhow::anyhow!("standard input (-) can be read only once").into());
                }
                stdin = true;
                "standard input".to_owned()
            } else {
                file.display().to_string()
            };
            let (text, base) = read_file(&file)?;
            names.push(name);
            texts.push(text);
            bases.push(base);
        }
    }
    let inputs: Vec<(&str, &str)> = names
        .iter()
        .zip(&texts)
        .map(|(n, t)| (n.as_str(), t.as_str()))
        .collect();
    let loaded = spec::load_many(&inputs).map_err(|e| Failure {
        code: EXIT_INVALID,
        error: anyhow::Error::new(e),
    })?;
    for n in &loaded.notes {
        note(&format!("note: {n}"));
    }
    for p in &loaded.pods {
        for w in &p.warnings {
            note(&format!("warning: pod {}: {w}", p.document.display_name()));
        }
    }
    crate::services::warn(&loaded);
    Ok((loaded, bases))
}

/// The directory a pod's relative image paths resolve against: its file's.
pub(crate) fn base_dir(bases: &[PathBuf], pod: &spec::ValidPod) -> Option<PathBuf> {
    bases.get(pod.document.input).cloned()
}
