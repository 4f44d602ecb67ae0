//! Compliance over time (`scan --history DIR`): one compact snapshot per run, and from the
//! snapshots kept the changes since the last run, how long each open non-compliance has been
//! open, and the mean time to remediate (MTTR). Pure: the CLI reads and writes the files.
//!
//! A **snapshot** is JSON lines: a header (`{"cmekGateSnapshot":1,"takenAt":"…Z"}`), then one
//! [`Entry`] per resource, keyed by its [`resource_id`] (`KIND/PROJECT/REGION/NAME`). A resource
//! is **non-compliant** as the scan lists it: a policy denies it, or it is sensitive without a key.
//! An **episode** runs from the first snapshot of an unbroken non-compliant streak to the first
//! snapshot that has the resource and finds it not non-compliant (a **remediation**, which MTTR
//! counts). A resource missing from a snapshot ends its streak uncounted (deleted, not fixed).

use super::Resource;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

/// The snapshot format's version, in each snapshot's header.
pub const FORMAT: u32 = 1;

/// Seconds since the Unix epoch, UTC.
pub type Seconds = i64;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HistoryError {
    #[error("line {line}: {message}")]
    Line { line: usize, message: String },
    #[error("{0}")]
    Time(String),
    #[error("snapshot taken at {later} comes after the one taken at {earlier}: snapshots must be added oldest first")]
    OutOfOrder { earlier: String, later: String },
}

/// A resource's stable identity across runs: `KIND/PROJECT/REGION/NAME` (the kind as the
/// manifest spells it, the project and region as the scan reads them, `(none)` when unset).
pub fn resource_id(r: &Resource) -> String {
    format!("{}/{}/{}/{}", r.kind, r.project, r.region, r.name)
}

/// What a snapshot keeps of a resource: only what the KPIs need.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Entry {
    pub id: String,
    pub sensitive: bool,
    pub compliant: bool,
    pub owner: String,
    pub project: String,
    pub classification: String,
    /// The policies that denied it.
    pub failing: Vec<String>,
    pub key: String,
}

impl Entry {
    /// As the scan's non-compliant list has it: denied by a policy, or sensitive and not compliant.
    pub fn non_compliant(&self) -> bool {
        !self.failing.is_empty() || (self.sensitive && !self.compliant)
    }
}

/// The resources of one run, by id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    pub taken_at: Seconds,
    pub entries: BTreeMap<String, Entry>,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Header {
    cmek_gate_snapshot: u32,
    taken_at: String,
}

/// The snapshot of a scan's resources. A resource listed twice (the same id in two inputs) is
/// one entry: compliant only if every copy is, with every copy's failing policies.
pub fn snapshot_of(resources: &[Resource], taken_at: Seconds) -> Snapshot {
    let mut snapshot = Snapshot {
        taken_at,
        entries: BTreeMap::new(),
    };
    for r in resources {
        snapshot.add(r);
    }
    snapshot
}

impl Snapshot {
    /// Adds one resource, as [`snapshot_of`] adds each.
    pub fn add(&mut self, r: &Resource) {
        let id = resource_id(r);
        match self.entries.get_mut(&id) {
            Some(e) => {
                e.sensitive |= r.sensitive;
                e.compliant &= r.compliant;
                e.failing.extend(r.failing.iter().cloned());
                e.failing.sort();
                e.failing.dedup();
                if e.key.is_empty() {
                    e.key.clone_from(&r.key);
                }
            }
            None => {
                let mut failing = r.failing.clone();
                failing.sort();
                failing.dedup();
                self.entries.insert(
                    id.clone(),
                    Entry {
                        id,
                        sensitive: r.sensitive,
                        compliant: r.compliant,
                        owner: r.owner.clone(),
                        project: r.project.clone(),
                        classification: r.classification.clone(),
                        failing,
                        key: r.key.clone(),
                    },
                );
            }
        }
    }
}

/// A time as RFC 3339 in UTC, to the second (`2026-01-31T02:00:00Z`).
pub fn format_time(t: Seconds) -> String {
    let time = if t >= 0 {
        SystemTime::UNIX_EPOCH + Duration::from_secs(t as u64)
    } else {
        SystemTime::UNIX_EPOCH - Duration::from_secs(t.unsigned_abs())
    };
    humantime::format_rfc3339_seconds(time).to_string()
}

/// Reads an RFC 3339 time in UTC (`2026-01-31T02:00:00Z`; fractions of a second are dropped).
pub fn parse_time(text: &str) -> Result<Seconds, HistoryError> {
    let time = humantime::parse_rfc3339(text.trim()).map_err(|e| {
        HistoryError::Time(format!(
            "{text:?} is not a UTC time as RFC 3339 writes it (2026-01-31T02:00:00Z): {e}"
        ))
    })?;
    Ok(match time.duration_since(SystemTime::UNIX_EPOCH) {
        Ok(d) => d.as_secs() as Seconds,
        Err(e) => -(e.duration().as_secs() as Seconds),
    })
}

/// A snapshot's file name: its time in the basic ISO 8601 form, `20260131T020000Z.jsonl`
/// (sorts by time, and has no `:` for file systems that refuse one).
pub fn file_name(taken_at: Seconds) -> String {
    format_time(taken_at).replace(['-', ':'], "") + ".jsonl"
}

/// The time a snapshot's file name says, `None` when the name is not a snapshot's.
pub fn time_of_file_name(name: &str) -> Option<Seconds> {
    let stem = name.strip_suffix(".jsonl")?;
    let b = stem.as_bytes();
    if b.len() != 16 || b[8] != b'T' || b[15] != b'Z' {
        return None;
    }
    let (date, time) = (&stem[..8], &stem[9..15]);
    if !date.bytes().chain(time.bytes()).all(|c| c.is_ascii_digit()) {
        return None;
    }
    let text = format!(
        "{}-{}-{}T{}:{}:{}Z",
        &date[..4],
        &date[4..6],
        &date[6..],
        &time[..2],
        &time[2..4],
        &time[4..]
    );
    parse_time(&text).ok()
}

/// A snapshot as JSON lines: the header, then the entries in id order.
pub fn to_jsonl(snapshot: &Snapshot) -> String {
    let mut out = Vec::new();
    // Writing into memory does not fail.
    let _ = write_jsonl(snapshot, &mut out);
    // JSON is UTF-8.
    String::from_utf8(out).unwrap_or_default()
}

/// [`to_jsonl`], written one line at a time.
pub fn write_jsonl(snapshot: &Snapshot, out: &mut dyn std::io::Write) -> std::io::Result<()> {
    let header = Header {
        cmek_gate_snapshot: FORMAT,
        taken_at: format_time(snapshot.taken_at),
    };
    serde_json::to_writer(&mut *out, &header)?;
    out.write_all(b"\n")?;
    for entry in snapshot.entries.values() {
        serde_json::to_writer(&mut *out, entry)?;
        out.write_all(b"\n")?;
    }
    Ok(())
}

/// Reads a snapshot [`to_jsonl`] wrote. Anything else (no header, another format version, a
/// line that is not an entry, an id twice) is an error naming the line.
pub fn from_jsonl(text: &str) -> Result<Snapshot, HistoryError> {
    let mut lines = text
        .lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l))
        .filter(|(_, l)| !l.trim().is_empty());
    let error = |line, message: String| HistoryError::Line { line, message };
    let (line, first) = lines
        .next()
        .ok_or_else(|| error(1, "empty: no snapshot header".into()))?;
    let header: Header = serde_json::from_str(first).map_err(|e| {
        error(
            line,
            format!("not a snapshot header ({{\"cmekGateSnapshot\":{FORMAT},\"takenAt\":…}}): {e}"),
        )
    })?;
    if header.cmek_gate_snapshot != FORMAT {
        return Err(error(
            line,
            format!(
                "snapshot format {} (this cmek-gate reads format {FORMAT})",
                header.cmek_gate_snapshot
            ),
        ));
    }
    let taken_at = parse_time(&header.taken_at).map_err(|e| error(line, e.to_string()))?;
    let mut entries = BTreeMap::new();
    for (line, text) in lines {
        let entry: Entry = serde_json::from_str(text)
            .map_err(|e| error(line, format!("not a snapshot entry: {e}")))?;
        if entries.contains_key(&entry.id) {
            return Err(error(line, format!("{} is listed twice", entry.id)));
        }
        entries.insert(entry.id.clone(), entry);
    }
    Ok(Snapshot { taken_at, entries })
}

/// A resource whose state changed in the last snapshot, with its facts when it was last
/// non-compliant (for a fix: what was failing).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Change {
    pub id: String,
    pub owner: String,
    pub project: String,
    pub classification: String,
    pub failing: Vec<String>,
}

impl Change {
    fn of(entry: &Entry) -> Change {
        Change {
            id: entry.id.clone(),
            owner: entry.owner.clone(),
            project: entry.project.clone(),
            classification: entry.classification.clone(),
            failing: entry.failing.clone(),
        }
    }
}

/// A resource non-compliant now, and since when (the first snapshot of its current streak).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Open {
    #[serde(flatten)]
    pub resource: Change,
    pub since: String,
    pub open_seconds: Seconds,
}

/// A closed episode: non-compliant from `opened` until `fixed`. Grouped by the owner, project
/// and classification the resource had when it was last non-compliant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Remediation {
    pub id: String,
    pub opened: Seconds,
    pub fixed: Seconds,
    pub owner: String,
    pub project: String,
    pub classification: String,
}

/// Mean and 90th percentile (nearest rank) of the times to remediate, in seconds; `None` when
/// there is no remediation.
#[derive(Debug, Clone, PartialEq, Serialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct MttrStats {
    pub remediations: usize,
    pub mean_seconds: Option<f64>,
    pub p90_seconds: Option<Seconds>,
}

impl MttrStats {
    pub fn of(mut durations: Vec<Seconds>) -> MttrStats {
        if durations.is_empty() {
            return MttrStats::default();
        }
        durations.sort_unstable();
        let n = durations.len();
        let sum: i128 = durations.iter().map(|&d| d as i128).sum();
        // Nearest rank: the smallest value with at least 90% of the values at or below it.
        let rank = (n * 9).div_ceil(10);
        MttrStats {
            remediations: n,
            mean_seconds: Some(((sum as f64 / n as f64) * 100.0).round() / 100.0),
            p90_seconds: Some(durations[rank - 1]),
        }
    }
}

/// MTTR over every remediation in the snapshots kept, overall and by group.
#[derive(Debug, Clone, PartialEq, Serialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct Mttr {
    pub overall: MttrStats,
    pub by_owner: BTreeMap<String, MttrStats>,
    pub by_project: BTreeMap<String, MttrStats>,
    pub by_classification: BTreeMap<String, MttrStats>,
}

impl Mttr {
    pub fn of(remediations: &[Remediation]) -> Mttr {
        let duration = |r: &Remediation| r.fixed - r.opened;
        let grouped = |key: fn(&Remediation) -> &String| {
            let mut groups: BTreeMap<String, Vec<Seconds>> = BTreeMap::new();
            for r in remediations {
                groups.entry(key(r).clone()).or_default().push(duration(r));
            }
            groups
                .into_iter()
                .map(|(k, v)| (k, MttrStats::of(v)))
                .collect()
        };
        Mttr {
            overall: MttrStats::of(remediations.iter().map(duration).collect()),
            by_owner: grouped(|r| &r.owner),
            by_project: grouped(|r| &r.project),
            by_classification: grouped(|r| &r.classification),
        }
    }
}

/// What one snapshot changed: the resources newly non-compliant in it, and those it found fixed.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Step {
    pub newly_non_compliant: Vec<Change>,
    pub fixed: Vec<Change>,
}

/// The snapshots seen so far, folded: each open streak and every remediation. Fed one snapshot
/// at a time, oldest first, so that no more than one snapshot need be held.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct History {
    /// Each resource non-compliant in the last snapshot: the start of its streak, and its entry
    /// in the last snapshot.
    open: BTreeMap<String, (Seconds, Entry)>,
    remediations: Vec<Remediation>,
    snapshots: usize,
    last: Option<Seconds>,
    previous: Option<Seconds>,
    trend: Vec<TrendPoint>,
}

/// One snapshot's figures, for the trend: its compliance (over its entries, one per resource
/// id) and the MTTR of every remediation up to it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TrendPoint {
    pub taken_at: String,
    pub resources: usize,
    pub sensitive: usize,
    pub compliant: usize,
    /// compliant / sensitive, in percent (100 when nothing is sensitive), as the scan's rate.
    pub compliance_percent: f64,
    pub non_compliant: usize,
    pub mttr: MttrStats,
}

impl TrendPoint {
    fn of(snapshot: &Snapshot, remediations: &[Remediation]) -> TrendPoint {
        let entries = snapshot.entries.values();
        let sensitive = entries.clone().filter(|e| e.sensitive).count();
        let compliant = entries.clone().filter(|e| e.compliant).count();
        TrendPoint {
            taken_at: format_time(snapshot.taken_at),
            resources: snapshot.entries.len(),
            sensitive,
            compliant,
            compliance_percent: super::percent(compliant, sensitive),
            non_compliant: entries.filter(|e| e.non_compliant()).count(),
            mttr: MttrStats::of(remediations.iter().map(|r| r.fixed - r.opened).collect()),
        }
    }
}

impl History {
    /// Adds the next snapshot (later than the last one added) and says what it changed.
    pub fn add(&mut self, snapshot: &Snapshot) -> Result<Step, HistoryError> {
        if let Some(last) = self.last {
            if snapshot.taken_at <= last {
                return Err(HistoryError::OutOfOrder {
                    earlier: format_time(last),
                    later: format_time(snapshot.taken_at),
                });
            }
        }
        let mut step = Step::default();
        let mut open = BTreeMap::new();
        for (id, entry) in &snapshot.entries {
            let before = self.open.remove(id);
            match (entry.non_compliant(), before) {
                (true, Some((since, _))) => {
                    open.insert(id.clone(), (since, entry.clone()));
                }
                (true, None) => {
                    step.newly_non_compliant.push(Change::of(entry));
                    open.insert(id.clone(), (snapshot.taken_at, entry.clone()));
                }
                (false, Some((since, last))) => {
                    step.fixed.push(Change::of(&last));
                    self.remediations.push(Remediation {
                        id: id.clone(),
                        opened: since,
                        fixed: snapshot.taken_at,
                        owner: last.owner,
                        project: last.project,
                        classification: last.classification,
                    });
                }
                (false, None) => {}
            }
        }
        // What is left was non-compliant and is gone: its streak ends, uncounted.
        self.open = open;
        self.snapshots += 1;
        self.previous = self.last;
        self.last = Some(snapshot.taken_at);
        self.trend
            .push(TrendPoint::of(snapshot, &self.remediations));
        Ok(step)
    }

    pub fn remediations(&self) -> &[Remediation] {
        &self.remediations
    }

    /// The report at the last snapshot added, with `step`, what that snapshot changed.
    pub fn report(&self, step: Step) -> HistoryReport {
        let now = self.last.unwrap_or_default();
        HistoryReport {
            taken_at: format_time(now),
            previous: self.previous.map(format_time),
            snapshots: self.snapshots,
            newly_non_compliant: step.newly_non_compliant,
            fixed: step.fixed,
            open: self
                .open
                .values()
                .map(|(since, entry)| Open {
                    resource: Change::of(entry),
                    since: format_time(*since),
                    open_seconds: now - since,
                })
                .collect(),
            mttr: Mttr::of(&self.remediations),
            trend: self.trend.clone(),
        }
    }
}

/// What `scan --history` adds to a scan.
#[derive(Debug, Clone, PartialEq, Serialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct HistoryReport {
    /// This run's snapshot time.
    pub taken_at: String,
    /// The time of the snapshot before it, if one is kept.
    pub previous: Option<String>,
    /// Snapshots kept, this run's included.
    pub snapshots: usize,
    pub newly_non_compliant: Vec<Change>,
    pub fixed: Vec<Change>,
    /// Non-compliant now, oldest streak first by id order.
    pub open: Vec<Open>,
    pub mttr: Mttr,
    /// Each snapshot kept, oldest first (this run's last): its compliance and the MTTR so far.
    pub trend: Vec<TrendPoint>,
}

#[cfg(test)]
mod tests;
