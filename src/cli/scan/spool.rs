//! `scan`'s per-resource lists, written to unnamed temporary files as the resources are judged
//! (one JSON line each), and read back one at a time for the report: the scan's memory does not
//! grow with the number of resources.

use crate::scan::listing::ScanLists;
use crate::scan::{List, Listed, Resource};
use std::fs::File;
use std::io::{self, BufRead, BufReader, BufWriter, Read, Seek, Write};

/// One file per [`List`], in the order of [`List::ALL`].
pub struct Spool {
    files: Vec<BufWriter<File>>,
    lengths: [usize; 5],
}

impl Spool {
    pub fn new() -> io::Result<Spool> {
        let files = List::ALL
            .iter()
            .map(|_| tempfile::tempfile().map(BufWriter::new))
            .collect::<io::Result<_>>()?;
        Ok(Spool {
            files,
            lengths: [0; 5],
        })
    }

    /// Writes the resource to every list it is in.
    pub fn add(&mut self, listed: &Listed) -> io::Result<()> {
        let line = serde_json::to_string(listed).map_err(io::Error::other)?;
        for (k, list) in List::ALL.into_iter().enumerate() {
            if listed.in_list(list).is_some() {
                self.files[k].write_all(line.as_bytes())?;
                self.files[k].write_all(b"\n")?;
                self.lengths[k] += 1;
            }
        }
        Ok(())
    }

    fn index(list: List) -> usize {
        List::ALL.iter().position(|l| *l == list).unwrap_or(0)
    }
}

impl ScanLists for Spool {
    fn len(&self, list: List) -> usize {
        self.lengths[Self::index(list)]
    }

    fn each(
        &mut self,
        list: List,
        each: &mut dyn FnMut(&Resource, Option<&str>) -> io::Result<()>,
    ) -> io::Result<()> {
        let writer = &mut self.files[Self::index(list)];
        writer.flush()?;
        let mut file = writer.get_ref().try_clone()?;
        file.rewind()?;
        let end = writer.get_ref().metadata()?.len();
        let mut lines = BufReader::with_capacity(256 * 1024, file.take(end));
        let mut line = String::new();
        loop {
            line.clear();
            if lines.read_line(&mut line)? == 0 {
                break;
            }
            let listed: Listed = serde_json::from_str(&line).map_err(io::Error::other)?;
            let message = listed.in_list(list).flatten();
            each(&listed.resource, message)?;
        }
        // Back at the end, for what is added next.
        writer.get_mut().seek(io::SeekFrom::End(0))?;
        Ok(())
    }
}
