//! A scan's per-resource lists, wherever they are kept: in the [`Scan`] itself, or written out
//! as the resources came (`scan` keeps them in files, so that its memory does not grow with the
//! input). The JSON report is written from them as `serde_json::to_string_pretty` writes the
//! whole [`Scan`], list by list. Pure but for the writer it is given.

use super::{List, LiveProblem, Resource, Scan};
use serde::Serialize;
use std::io::{self, Write};

/// Where a scan's lists are: each list's length, and its resources in order (with the live
/// policy's message for [`List::KeyNotUsable`] and [`List::AgentWithoutRole`]).
pub trait ScanLists {
    fn len(&self, list: List) -> usize;
    fn each(
        &mut self,
        list: List,
        each: &mut dyn FnMut(&Resource, Option<&str>) -> io::Result<()>,
    ) -> io::Result<()>;
}

/// The lists a [`Scan`] holds.
pub struct InMemory<'a>(pub &'a Scan);

impl InMemory<'_> {
    fn resources(&self, list: List) -> Option<&[Resource]> {
        match list {
            List::NonCompliant => Some(&self.0.non_compliant),
            List::KeysNotNeeded => Some(&self.0.keys_not_needed),
            List::Resources => Some(&self.0.resources),
            List::KeyNotUsable | List::AgentWithoutRole => None,
        }
    }

    fn problems(&self, list: List) -> &[LiveProblem] {
        match list {
            List::KeyNotUsable => &self.0.key_not_usable,
            List::AgentWithoutRole => &self.0.agent_without_role,
            _ => &[],
        }
    }
}

impl ScanLists for InMemory<'_> {
    fn len(&self, list: List) -> usize {
        self.resources(list)
            .map_or_else(|| self.problems(list).len(), <[Resource]>::len)
    }

    fn each(
        &mut self,
        list: List,
        each: &mut dyn FnMut(&Resource, Option<&str>) -> io::Result<()>,
    ) -> io::Result<()> {
        match self.resources(list) {
            Some(resources) => resources.iter().try_for_each(|r| each(r, None)),
            None => self
                .problems(list)
                .iter()
                .try_for_each(|p| each(&p.resource, Some(&p.message))),
        }
    }
}

/// Writes `value` as `to_string_pretty` writes it at `depth` (two spaces a level): every line
/// after the first indented (a JSON string holds no line break, so lines are the printer's).
fn pretty(out: &mut dyn Write, value: &impl Serialize, depth: usize) -> io::Result<()> {
    let text = serde_json::to_string_pretty(value).map_err(io::Error::other)?;
    let indent = "  ".repeat(depth);
    for (k, line) in text.split('\n').enumerate() {
        if k > 0 {
            out.write_all(b"\n")?;
            out.write_all(indent.as_bytes())?;
        }
        out.write_all(line.as_bytes())?;
    }
    Ok(())
}

/// The scan's JSON, as `serde_json::to_string_pretty(scan)` with the lists of `lists` gives it,
/// and a line break: the lists are written one resource at a time.
pub fn write_json(scan: &Scan, lists: &mut dyn ScanLists, out: &mut dyn Write) -> io::Result<()> {
    let live_lengths = [
        (List::KeyNotUsable, lists.len(List::KeyNotUsable)),
        (List::AgentWithoutRole, lists.len(List::AgentWithoutRole)),
    ];
    let mut first = true;
    let mut name = |out: &mut dyn Write, name: &str| -> io::Result<()> {
        out.write_all(if first { b"{\n  " } else { b",\n  " })?;
        first = false;
        write!(out, "\"{name}\": ")
    };
    let mut list = |out: &mut dyn Write, list: List| -> io::Result<()> {
        if lists.len(list) == 0 {
            return out.write_all(b"[]");
        }
        out.write_all(b"[")?;
        let mut first = true;
        lists.each(list, &mut |resource, message| {
            out.write_all(if first { b"\n    " } else { b",\n    " })?;
            first = false;
            match message {
                Some(message) => {
                    let problem = LiveProblem {
                        resource: resource.clone(),
                        message: message.to_owned(),
                    };
                    pretty(out, &problem, 2)
                }
                None => pretty(out, resource, 2),
            }
        })?;
        out.write_all(b"\n  ]")
    };
    name(out, "emptyLists")?;
    pretty(out, &scan.empty_lists, 1)?;
    for (field, groups) in [
        ("total", None),
        ("byProject", Some(&scan.by_project)),
        ("byRegion", Some(&scan.by_region)),
        ("byClassification", Some(&scan.by_classification)),
        ("byOwner", Some(&scan.by_owner)),
    ] {
        name(out, field)?;
        match groups {
            Some(groups) => pretty(out, groups, 1)?,
            None => pretty(out, &scan.total, 1)?,
        }
    }
    name(out, "nonCompliant")?;
    list(out, List::NonCompliant)?;
    name(out, "keys")?;
    pretty(out, &scan.keys, 1)?;
    name(out, "kmsCost")?;
    pretty(out, &scan.kms_cost, 1)?;
    name(out, "keysNotNeeded")?;
    list(out, List::KeysNotNeeded)?;
    name(out, "resources")?;
    list(out, List::Resources)?;
    for (field, (live, length)) in ["keyNotUsable", "agentWithoutRole"]
        .into_iter()
        .zip(live_lengths)
    {
        if length > 0 {
            name(out, field)?;
            list(out, live)?;
        }
    }
    name(out, "errors")?;
    pretty(out, &scan.errors, 1)?;
    if let Some(history) = &scan.history {
        name(out, "history")?;
        pretty(out, history, 1)?;
    }
    out.write_all(b"\n}\n")
}
