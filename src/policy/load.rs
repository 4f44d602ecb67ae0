//! Reads policy and parameter files from disk (the one part of `policy` that does I/O) and hands
//! their text to [`PolicySet::compile`]. Directories are walked by [`manifest_files`], which the
//! manifest commands (`check`, `fix`, `scan`, ...) use too.

use super::{embedded, PolicyError, PolicySet, Source};
use std::collections::HashSet;
use std::path::{Path, PathBuf};

/// Lists the manifest files under `path` (the path itself when it is a file, whatever its name),
/// sorted, as any consumer (`kubectl apply -R`, Config Sync) might read the directory, and more:
/// every file whose extension is `.yaml`, `.yml` or `.json` in any case (`svc.YAML` included),
/// hidden files and folders included (only `.git` folders are not entered), symbolic links
/// followed; a file reached twice (through links) is listed once, under its first path. A symlink
/// loop, a dangling link, an entry that cannot be read and a manifest that is not a regular file
/// (a FIFO, a device) are errors, never skipped. `skip_test_dirs` leaves out `tests/` folders
/// (policy test suites).
pub fn manifest_files(path: &Path, skip_test_dirs: bool) -> Result<Vec<PathBuf>, PolicyError> {
    let read_error = |p: &Path, message: String| PolicyError::Read {
        path: p.display().to_string(),
        message,
    };
    let meta = std::fs::metadata(path).map_err(|e| read_error(path, e.to_string()))?;
    if !meta.is_dir() {
        return Ok(vec![path.to_path_buf()]);
    }
    let walker = walkdir::WalkDir::new(path)
        .follow_links(true)
        .into_iter()
        .filter_entry(|entry| {
            let name = entry.file_name();
            entry.depth() == 0
                || !entry.file_type().is_dir()
                || !(name == ".git" || (skip_test_dirs && name == "tests"))
        });
    let mut found = Vec::new();
    for entry in walker {
        let entry = entry.map_err(|e| {
            let at = e.path().unwrap_or(path).to_path_buf();
            let message = match (e.loop_ancestor(), e.io_error()) {
                (Some(ancestor), _) => format!(
                    "a symbolic link loop: it leads back to {}; refusing to walk it",
                    ancestor.display()
                ),
                (None, Some(io)) if io.kind() == std::io::ErrorKind::NotFound => {
                    "a dangling symbolic link (its target does not exist): a consumer may read what it will point to".to_string()
                }
                (None, Some(io)) => format!("cannot be read: {io}"),
                (None, None) => e.to_string(),
            };
            read_error(&at, message)
        })?;
        if entry.file_type().is_dir() || !is_manifest_name(entry.path()) {
            continue;
        }
        if !entry.file_type().is_file() {
            return Err(read_error(
                entry.path(),
                "not a regular file (a FIFO, socket or device): refusing to read it".into(),
            ));
        }
        found.push(entry.into_path());
    }
    found.sort();
    let mut seen = HashSet::new();
    let mut unique = Vec::with_capacity(found.len());
    for file in found {
        let real = std::fs::canonicalize(&file).map_err(|e| read_error(&file, e.to_string()))?;
        if seen.insert(real) {
            unique.push(file);
        }
    }
    Ok(unique)
}

/// A name ending in `.yaml`, `.yml` or `.json`, in any case (a file named just `.yaml` too, as
/// Go's `filepath.Ext` reads it).
fn is_manifest_name(path: &Path) -> bool {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_ascii_lowercase());
    name.is_some_and(|n| [".yaml", ".yml", ".json"].iter().any(|e| n.ends_with(e)))
}

/// The policy sources: the files under `paths`, or the embedded library when there are none.
pub fn policy_sources(paths: &[PathBuf]) -> Result<Vec<Source>, PolicyError> {
    if paths.is_empty() {
        Ok(embedded::sources())
    } else {
        read_sources(paths)
    }
}

/// Reads every manifest file under `paths`.
pub fn read_sources(paths: &[PathBuf]) -> Result<Vec<Source>, PolicyError> {
    let mut sources = Vec::new();
    for path in paths {
        for file in manifest_files(path, true)? {
            let text = std::fs::read_to_string(&file).map_err(|e| PolicyError::Read {
                path: file.display().to_string(),
                message: e.to_string(),
            })?;
            sources.push(Source {
                name: file.display().to_string(),
                text,
            });
        }
    }
    Ok(sources)
}

/// Loads the policy set: the given policy paths, or the embedded library when there are none;
/// then the given parameter files, which replace parameter objects of the same identity.
pub fn load_policy_set(
    policy_paths: &[PathBuf],
    param_paths: &[PathBuf],
    options: &super::CompileOptions,
) -> Result<PolicySet, PolicyError> {
    let policies = policy_sources(policy_paths)?;
    let params = read_sources(param_paths)?;
    PolicySet::compile_with(&policies, &params, options)
}
