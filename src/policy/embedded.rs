//! The shipped policy library from `policies/`, embedded at build time (see `build.rs`).

use super::Source;

include!(concat!(env!("OUT_DIR"), "/embedded_policies.rs"));

/// The embedded policy files as sources named `<embedded>/FILE`.
pub fn sources() -> Vec<Source> {
    FILES
        .iter()
        .map(|(name, text)| Source {
            name: format!("<embedded>/{name}"),
            text: (*text).to_owned(),
        })
        .collect()
}

/// The embedded live policy files (`policies/live/`), as sources named `<embedded>/live/FILE`:
/// loaded with `--live` only.
pub fn live_sources() -> Vec<Source> {
    LIVE_FILES
        .iter()
        .map(|(name, text)| Source {
            name: format!("<embedded>/live/{name}"),
            text: (*text).to_owned(),
        })
        .collect()
}
