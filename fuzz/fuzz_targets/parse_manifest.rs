//! Arbitrary bytes through the gate's manifest reader, as `check` reads a file: `decode`, then
//! `parse_documents` (the whole text) and the split path (`split_stream` and `parse_part`, as
//! large texts are parsed on several threads). Any panic is a crash; memory is bounded by
//! libFuzzer's `-rss_limit_mb` and each input by `-max_len`.
#![no_main]

use cmek_gate::manifest::{self, Part, ReadLimits};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let limits = ReadLimits::default();
    let Ok(text) = manifest::decode(data, &limits) else {
        return;
    };
    let _ = manifest::parse_documents(text, &limits);
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    for parts in [2, 3] {
        let (mut yaml_before, mut objects_before) = (0, 0);
        for (line_offset, piece) in manifest::split_stream(text, parts) {
            let part = Part {
                line_offset,
                yaml_documents: 0,
                objects: 0,
            };
            match manifest::parse_part(piece, &limits, part) {
                Ok(parsed) => {
                    yaml_before += parsed.yaml_documents;
                    objects_before += parsed.documents.len();
                }
                Err(error) => {
                    let _ = error.shifted(yaml_before, objects_before).to_string();
                    break;
                }
            }
        }
    }
});
