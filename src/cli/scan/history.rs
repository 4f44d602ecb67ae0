//! `scan --history DIR`: the snapshot files (see [`crate::scan::history`]). Reads the snapshots
//! kept, oldest first, and fails on any it cannot read; writes this run's atomically (a
//! temporary file in DIR, renamed); deletes those older than `--history-keep` days.

use crate::scan::history::{self, History, HistoryReport, Seconds, Snapshot};
use anyhow::Context;
use std::io::Write;
use std::path::{Path, PathBuf};

const DAY: Seconds = 24 * 60 * 60;

/// The snapshot files in `dir`, by time; other files are left alone.
fn snapshot_files(dir: &Path) -> anyhow::Result<Vec<(Seconds, PathBuf)>> {
    let mut files = Vec::new();
    let entries =
        std::fs::read_dir(dir).with_context(|| format!("{}: cannot list", dir.display()))?;
    for entry in entries {
        let entry = entry.with_context(|| format!("{}: cannot list", dir.display()))?;
        let name = entry.file_name();
        if let Some(time) = name.to_str().and_then(history::time_of_file_name) {
            files.push((time, entry.path()));
        }
    }
    files.sort();
    Ok(files)
}

/// Folds the snapshots kept in `dir` and this run's (`current`, taken at `now`), writes this run's,
/// prunes those older than `keep_days`, and reports. A snapshot of the same second as `now` is
/// replaced; one later than `now` is an error (history is written in time order).
pub fn record(
    dir: &Path,
    keep_days: u32,
    now: Seconds,
    current: Snapshot,
) -> anyhow::Result<HistoryReport> {
    std::fs::create_dir_all(dir).with_context(|| format!("{}: cannot create", dir.display()))?;
    let cutoff = now - Seconds::from(keep_days) * DAY;
    let mut history = History::default();
    let mut expired = Vec::new();
    for (time, path) in snapshot_files(dir)? {
        if time > now {
            anyhow::bail!(
                "{}: a snapshot taken after this run's time {}; snapshots are written in time order (set the time with --now or CMEK_GATE_NOW)",
                path.display(),
                history::format_time(now)
            );
        }
        if time < cutoff {
            expired.push(path);
            continue;
        }
        if time == now {
            continue;
        }
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("{}: cannot read the snapshot", path.display()))?;
        let snapshot = history::from_jsonl(&text)
            .with_context(|| format!("{}: not a readable snapshot", path.display()))?;
        anyhow::ensure!(
            snapshot.taken_at == time,
            "{}: the snapshot says it was taken at {}, its name says {}",
            path.display(),
            history::format_time(snapshot.taken_at),
            history::format_time(time)
        );
        history
            .add(&snapshot)
            .with_context(|| path.display().to_string())?;
    }
    let step = history.add(&current)?;
    let path = dir.join(history::file_name(now));
    let write = || -> std::io::Result<()> {
        let mut file = tempfile::NamedTempFile::new_in(dir)?;
        let mut out = std::io::BufWriter::new(&mut file);
        history::write_jsonl(&current, &mut out)?;
        out.flush()?;
        drop(out);
        file.as_file().sync_all()?;
        file.persist(&path)?;
        Ok(())
    };
    write().with_context(|| format!("{}: cannot write the snapshot", path.display()))?;
    for old in expired {
        std::fs::remove_file(&old)
            .with_context(|| format!("{}: cannot delete the expired snapshot", old.display()))?;
    }
    Ok(history.report(step))
}
