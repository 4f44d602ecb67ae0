//! Reads policy and parameter files from disk (the one part of `policy` that does I/O) and hands
//! their text to [`PolicySet::compile`]. Directories are walked by [`manifest_files`], which the
//! manifest commands (`check`, `fix`, `scan`, ...) use too, leaving out `tests/` folders (test
//! suites). A load reads a consistent snapshot of the files (see [`read_snapshot`]) and refuses a
//! set that binds no policy.

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

/// The files a load reads, as one consistent snapshot: their names and contents, and a
/// fingerprint of both (to notice a change without compiling).
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub policies: Vec<Source>,
    pub params: Vec<Source>,
    pub fingerprint: u64,
}

/// How many times [`read_snapshot`] reads the files before giving up on their changing.
pub const SNAPSHOT_ATTEMPTS: usize = 5;

/// Reads the policy files (the embedded library when there are none) and the parameter files
/// as one consistent snapshot: everything is read, then read again, until two reads in a row
/// agree (at most [`SNAPSHOT_ATTEMPTS`] times), so a directory being written is never taken
/// part-way through one read. A directory mounted from a Kubernetes ConfigMap or Secret (its
/// `..data` symlink pointing at a timestamped folder the kubelet swaps atomically) is read
/// through `..data`, resolved once, so a swap is seen whole or not at all.
pub fn read_snapshot(
    policy_paths: &[PathBuf],
    param_paths: &[PathBuf],
) -> Result<Snapshot, PolicyError> {
    read_snapshot_live(policy_paths, param_paths, false)
}

/// [`read_snapshot`], with the embedded live policies added when `live` ([`with_live`]).
pub fn read_snapshot_live(
    policy_paths: &[PathBuf],
    param_paths: &[PathBuf],
    live: bool,
) -> Result<Snapshot, PolicyError> {
    let read = || -> Result<(Vec<Source>, Vec<Source>), PolicyError> {
        let policies = if policy_paths.is_empty() {
            embedded::sources()
        } else {
            read_resolved(policy_paths)?
        };
        let policies = if live { with_live(policies) } else { policies };
        Ok((policies, read_resolved(param_paths)?))
    };
    let mut previous = read()?;
    for _ in 1..SNAPSHOT_ATTEMPTS {
        let current = read()?;
        if same_sources(&current.0, &previous.0) && same_sources(&current.1, &previous.1) {
            let fingerprint = fingerprint(&current.0, &current.1);
            return Ok(Snapshot {
                policies: current.0,
                params: current.1,
                fingerprint,
            });
        }
        previous = current;
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    Err(PolicyError::Unstable {
        paths: display_paths(policy_paths.iter().chain(param_paths)),
        attempts: SNAPSHOT_ATTEMPTS,
    })
}

/// The file name of the live policies (`policies/live/`).
pub const LIVE_POLICY_FILE: &str = "cmek-live.yaml";

/// `sources` and the embedded live policies (`--live`), unless a file of that name is among
/// them already (`--policies policies/live` or a copy).
pub fn with_live(mut sources: Vec<Source>) -> Vec<Source> {
    let has_live = sources.iter().any(|s| {
        std::path::Path::new(&s.name)
            .file_name()
            .is_some_and(|n| n == LIVE_POLICY_FILE)
    });
    if !has_live {
        sources.extend(embedded::live_sources());
    }
    sources
}

/// Compiles a snapshot; a set that binds no policy is an error naming `policy_paths`.
pub fn compile_snapshot(
    snapshot: &Snapshot,
    policy_paths: &[PathBuf],
    options: &super::CompileOptions,
) -> Result<PolicySet, PolicyError> {
    let set = PolicySet::compile_with(&snapshot.policies, &snapshot.params, options)?;
    refuse_unbound(set, policy_paths)
}

/// `set`, unless it binds no policy (then an error naming `policy_paths`): a set that binds
/// nothing allows everything, which no caller wants from a mistake.
pub fn refuse_unbound(set: PolicySet, policy_paths: &[PathBuf]) -> Result<PolicySet, PolicyError> {
    if set.bound_policies().is_empty() {
        return Err(PolicyError::NothingBound {
            paths: if policy_paths.is_empty() {
                "<embedded>".into()
            } else {
                display_paths(policy_paths.iter())
            },
            policies: set.policies.len() + set.mutating_policies.len(),
            bindings: set.bindings.len() + set.mutating_bindings.len(),
        });
    }
    Ok(set)
}

/// Loads the policy set: the given policy paths, or the embedded library when there are none;
/// then the given parameter files, which replace parameter objects of the same identity. Read as
/// a consistent snapshot; a set that binds no policy is an error.
pub fn load_policy_set(
    policy_paths: &[PathBuf],
    param_paths: &[PathBuf],
    options: &super::CompileOptions,
) -> Result<PolicySet, PolicyError> {
    load_policy_set_live(policy_paths, param_paths, options, false)
}

/// [`load_policy_set`], with the embedded live policies when `live` ([`with_live`]).
pub fn load_policy_set_live(
    policy_paths: &[PathBuf],
    param_paths: &[PathBuf],
    options: &super::CompileOptions,
    live: bool,
) -> Result<PolicySet, PolicyError> {
    let snapshot = read_snapshot_live(policy_paths, param_paths, live)?;
    compile_snapshot(&snapshot, policy_paths, options)
}

/// The directory to walk for `path`: the folder its `..data` symlink points at, when it is a
/// mounted ConfigMap or Secret, else `path` itself.
fn resolve_mount(path: &Path) -> PathBuf {
    let data = path.join("..data");
    match std::fs::symlink_metadata(&data) {
        Ok(meta) if meta.file_type().is_symlink() => {
            std::fs::canonicalize(&data).unwrap_or_else(|_| path.to_path_buf())
        }
        _ => path.to_path_buf(),
    }
}

/// [`read_sources`] through each directory's resolved `..data`; the names stay under the path
/// given (`mount/policy.yaml`, not `mount/..2026_.../policy.yaml`).
fn read_resolved(paths: &[PathBuf]) -> Result<Vec<Source>, PolicyError> {
    let mut sources = Vec::new();
    for path in paths {
        let root = resolve_mount(path);
        for file in manifest_files(&root, true)? {
            let text = std::fs::read_to_string(&file).map_err(|e| PolicyError::Read {
                path: file.display().to_string(),
                message: e.to_string(),
            })?;
            let name = match file.strip_prefix(&root) {
                Ok(relative) if root != *path => path.join(relative),
                _ => file,
            };
            sources.push(Source {
                name: name.display().to_string(),
                text,
            });
        }
    }
    Ok(sources)
}

fn same_sources(a: &[Source], b: &[Source]) -> bool {
    a.len() == b.len()
        && a.iter()
            .zip(b)
            .all(|(x, y)| x.name == y.name && x.text == y.text)
}

fn fingerprint(policies: &[Source], params: &[Source]) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    for (list, tag) in [(policies, 0u8), (params, 1u8)] {
        tag.hash(&mut hasher);
        for source in list {
            source.name.hash(&mut hasher);
            source.text.hash(&mut hasher);
        }
    }
    hasher.finish()
}

fn display_paths<'a>(paths: impl Iterator<Item = &'a PathBuf>) -> String {
    paths
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_mounted_configmap_is_read_through_its_resolved_data_link() {
        let temporary = tempfile::tempdir().unwrap();
        let dir = temporary.path().to_path_buf();
        let (old, new) = (dir.join("..v1"), dir.join("..v2"));
        std::fs::create_dir_all(&old).unwrap();
        std::fs::create_dir_all(&new).unwrap();
        std::fs::write(old.join("a.yaml"), "old: a").unwrap();
        std::fs::write(new.join("a.yaml"), "new: a").unwrap();
        std::fs::write(new.join("b.yaml"), "new: b").unwrap();
        std::os::unix::fs::symlink("..v2", dir.join("..data")).unwrap();
        // Stale top-level links as the kubelet leaves them for a moment: one to the old folder,
        // none yet for b.yaml.
        std::os::unix::fs::symlink("..v1/a.yaml", dir.join("a.yaml")).unwrap();
        let read = read_resolved(std::slice::from_ref(&dir)).unwrap();
        let seen: Vec<(String, String)> = read.into_iter().map(|s| (s.name, s.text)).collect();
        let expected = vec![
            (dir.join("a.yaml").display().to_string(), "new: a".into()),
            (dir.join("b.yaml").display().to_string(), "new: b".into()),
        ];
        assert_eq!(seen, expected);
    }

    /// A ConfigMap volume (how the Helm chart mounts the policies): each file is a link through
    /// `..data` to a hidden, timestamped folder. Each policy is listed once, under its own name.
    #[test]
    fn a_config_map_volume_lists_each_file_once_under_its_own_name() {
        let temporary = tempfile::tempdir().unwrap();
        let dir = temporary.path().to_path_buf();
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
    }
}
