//! Reads policy and parameter files from disk (the one part of `policy` that does I/O) and hands
//! their text to [`PolicySet::compile`]. Directories are walked recursively for `.yaml`, `.yml`
//! and `.json` files, in sorted order, skipping hidden entries and `tests/` folders (test suites).

use super::{embedded, PolicyError, PolicySet, Source};
use std::path::{Path, PathBuf};

/// Lists the manifest files under `path` (the path itself when it is a file), sorted.
pub fn manifest_files(path: &Path, skip_test_dirs: bool) -> Result<Vec<PathBuf>, PolicyError> {
    let read_error = |p: &Path, e: std::io::Error| PolicyError::Read {
        path: p.display().to_string(),
        message: e.to_string(),
    };
    let meta = std::fs::metadata(path).map_err(|e| read_error(path, e))?;
    if !meta.is_dir() {
        return Ok(vec![path.to_path_buf()]);
    }
    let mut found = Vec::new();
    let mut todo = vec![path.to_path_buf()];
    while let Some(dir) = todo.pop() {
        let entries = std::fs::read_dir(&dir).map_err(|e| read_error(&dir, e))?;
        for entry in entries {
            let entry = entry.map_err(|e| read_error(&dir, e))?;
            let p = entry.path();
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') {
                continue;
            }
            let file_type = entry.file_type().map_err(|e| read_error(&p, e))?;
            let is_dir = file_type.is_dir() || (file_type.is_symlink() && p.is_dir());
            if is_dir {
                if !(skip_test_dirs && name == "tests") {
                    todo.push(p);
                }
            } else if matches!(
                p.extension().and_then(|e| e.to_str()),
                Some("yaml" | "yml" | "json")
            ) {
                found.push(p);
            }
        }
    }
    found.sort();
    Ok(found)
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
