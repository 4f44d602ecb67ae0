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
/// followed; a file reached twice (through links) is listed once, under its least hidden path. A symlink
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
    // A file reached by several paths is listed once, under the path with the fewest hidden
    // parts (a ConfigMap volume's `policy.yaml`, not `..data/policy.yaml`), then the first.
    let hidden_parts = |p: &Path| {
        p.strip_prefix(path)
            .unwrap_or(p)
            .components()
            .filter(|c| c.as_os_str().to_string_lossy().starts_with('.'))
            .count()
    };
    found.sort_by_cached_key(|p| (hidden_parts(p), p.clone()));
    let mut seen = HashSet::new();
    let mut unique = Vec::with_capacity(found.len());
    for file in found {
        let real = std::fs::canonicalize(&file).map_err(|e| read_error(&file, e.to_string()))?;
        if seen.insert(real) {
            unique.push(file);
        }
    }
    unique.sort();
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

#[cfg(test)]
mod tests {
    use super::*;

    fn fresh_dir(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("cmek-gate-load-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    /// A ConfigMap volume (how the Helm chart mounts the policies): each file is a link through
    /// `..data` to a hidden, timestamped folder. Each policy is listed once, under its own name.
    #[test]
    fn a_config_map_volume_lists_each_file_once_under_its_own_name() {
        let dir = fresh_dir("configmap");
        let data = dir.join("..2026_12_04_17_00_00.123");
        std::fs::create_dir_all(&data).unwrap();
        for name in ["a.yaml", "b.YML"] {
            std::fs::write(data.join(name), "x: 1\n").unwrap();
            std::os::unix::fs::symlink(format!("..data/{name}"), dir.join(name)).unwrap();
        }
        std::fs::create_dir_all(data.join("tests")).unwrap();
        std::fs::write(data.join("tests/t.yaml"), "x: 1\n").unwrap();
        std::os::unix::fs::symlink("..2026_12_04_17_00_00.123", dir.join("..data")).unwrap();
        let files = manifest_files(&dir, true).unwrap();
        assert_eq!(files, vec![dir.join("a.yaml"), dir.join("b.YML")]);
        // Without skipping test folders, the suite is found (once, through the hidden folder).
        assert_eq!(manifest_files(&dir, false).unwrap().len(), 3);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
