//! `scan`'s inputs: each file (or stdin) is told apart by its first MiB, then read whole as
//! manifests, or kept open to be streamed as Cloud Asset Inventory output (see
//! [`crate::scan::cai::read_each`]), which can be far larger than any manifest.

use super::InputFormat;
use crate::batch::Input;
use crate::report::InputError;
use crate::scan::cai::{self, CaiFormat};
use anyhow::Context;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

/// How much of an input is read to tell what it holds: an export's first line, or an array's
/// first element, must fit.
const PEEK_BYTES: u64 = 1024 * 1024;

/// A Cloud Asset Inventory input, open, to be read as it is judged.
pub struct CaiInput {
    pub name: String,
    pub format: CaiFormat,
    pub reader: Box<dyn BufRead>,
}

/// The inputs: the manifests read whole, the CAI outputs open, and those that could not be read.
#[derive(Default)]
pub struct Inputs {
    pub manifests: Vec<Input>,
    pub cai: Vec<CaiInput>,
    pub unreadable: Vec<InputError>,
}

/// Lists and opens every input (a directory's files sorted, as `check` reads them).
pub fn open(paths: &[PathBuf], format: InputFormat) -> anyhow::Result<Inputs> {
    if paths.iter().filter(|p| p.as_os_str() == "-").count() > 1 {
        anyhow::bail!("- (stdin) is given more than once");
    }
    let mut inputs = Inputs::default();
    for path in paths {
        let opened = if path.as_os_str() == "-" {
            let stdin: Box<dyn Read> = Box::new(std::io::stdin());
            open_one("<stdin>".into(), stdin, format)
                .context("cannot read stdin")
                .map(|input| vec![input])
        } else {
            files(path).and_then(|files| {
                files
                    .into_iter()
                    .map(|file| {
                        let name = file.display().to_string();
                        let read = || -> anyhow::Result<Opened> {
                            let reader: Box<dyn Read> = Box::new(std::fs::File::open(&file)?);
                            open_one(name.clone(), reader, format)
                        };
                        read().with_context(|| format!("cannot read {name}"))
                    })
                    .collect::<anyhow::Result<Vec<_>>>()
            })
        };
        match opened {
            Ok(opened) => {
                for input in opened {
                    match input {
                        Opened::Manifests(input) => inputs.manifests.push(input),
                        Opened::Cai(input) => inputs.cai.push(input),
                    }
                }
            }
            Err(e) => inputs
                .unreadable
                .push(crate::cli::check::unreadable_input(path, &e)),
        }
    }
    Ok(inputs)
}

fn files(path: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let files = crate::policy::load::manifest_files(path, false)?;
    if files.is_empty() {
        anyhow::bail!("no .yaml, .yml or .json files in this directory");
    }
    Ok(files)
}

enum Opened {
    Manifests(Input),
    Cai(CaiInput),
}

/// Reads the start of an input to tell what it holds; a manifest is read whole, CAI output is
/// left open.
fn open_one(
    name: String,
    mut reader: Box<dyn Read>,
    format: InputFormat,
) -> anyhow::Result<Opened> {
    let mut prefix = Vec::new();
    (&mut reader).take(PEEK_BYTES).read_to_end(&mut prefix)?;
    let text = match std::str::from_utf8(&prefix) {
        Ok(text) => text,
        // Cut in a character, or not UTF-8: what is valid of it.
        Err(e) => std::str::from_utf8(&prefix[..e.valid_up_to()]).unwrap_or_default(),
    };
    let cai_format = match format {
        InputFormat::Manifests => None,
        InputFormat::CaiExport => Some(CaiFormat::Export),
        InputFormat::CaiList => Some(CaiFormat::List),
        InputFormat::CaiSearch => Some(CaiFormat::Search),
        InputFormat::Auto => cai::detect(text),
    };
    let Some(format) = cai_format else {
        reader.read_to_end(&mut prefix)?;
        return Ok(Opened::Manifests(Input { name, text: prefix }));
    };
    if prefix.starts_with("\u{feff}".as_bytes()) {
        prefix.drain(..3);
    }
    let reader = std::io::Cursor::new(prefix).chain(reader);
    Ok(Opened::Cai(CaiInput {
        name,
        format,
        reader: Box::new(BufReader::with_capacity(256 * 1024, reader)),
    }))
}
