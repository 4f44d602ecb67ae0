//! Embeds the shipped policy library (`policies/*.yaml`, top level only) in the binary, so the
//! gate runs with no files installed. Adding a policy file is all it takes to ship it. The live
//! policies (`policies/live/*.yaml`) are embedded apart, for `--live`.

use std::fmt::Write;
use std::path::Path;

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("policies");
    let mut code = files_const(&root, "FILES", "The shipped policy files");
    // The live policies (issue 18), loaded only with --live.
    code.push_str(&files_const(
        &root.join("live"),
        "LIVE_FILES",
        "The live policy files (policies/live/, loaded with --live)",
    ));
    let out = Path::new(&std::env::var("OUT_DIR").unwrap()).join("embedded_policies.rs");
    std::fs::write(out, code).unwrap();
}

/// `pub const NAME: &[(&str, &str)]`: the `.yaml` files of `dir` (not its subdirectories).
fn files_const(dir: &Path, name: &str, doc: &str) -> String {
    println!("cargo:rerun-if-changed={}", dir.display());
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.is_file() && p.extension().is_some_and(|e| e == "yaml"))
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    let mut code =
        format!("/// {doc}: (file name, text).\npub const {name}: &[(&str, &str)] = &[\n");
    for path in &files {
        println!("cargo:rerun-if-changed={}", path.display());
        let name = path.file_name().unwrap().to_string_lossy();
        writeln!(
            code,
            "    ({name:?}, include_str!({:?})),",
            path.display().to_string()
        )
        .unwrap();
    }
    code.push_str("];\n");
    code
}
