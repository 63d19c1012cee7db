//! Replays every file of every fuzz corpus (`corpus/<target>/` and
//! `corpus/regressions/<target>/`) through the target's body, on stable,
//! and names each file that panics; `corpus/regressions/ops-<device>/` on
//! that device, as `LOGSTORE_FUZZ_DEVICE` pinned the run that found it.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};

use logstore_sim::campaign::fuzzing::{ops_on, TARGETS};
use logstore_sim::nand::Device;

/// The files of `dir` (not recursive), sorted; notes (`*.md`) skipped.
fn files(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .map(|e| e.expect("readable corpus folder").path())
        .filter(|p| p.is_file() && p.extension().is_none_or(|e| e != "md"))
        .collect();
    files.sort();
    files
}

#[test]
fn every_corpus_file_passes_its_target() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../corpus");
    let mut failures = Vec::new();
    let mut replayed = 0;
    for (name, body) in TARGETS {
        let corpus = files(&root.join(name));
        assert!(
            !corpus.is_empty(),
            "corpus/{name}/ is empty: every target keeps a seed corpus"
        );
        let regressions = files(&root.join("regressions").join(name));
        for path in corpus.iter().chain(&regressions) {
            let data = std::fs::read(path).expect("readable corpus file");
            replayed += 1;
            if let Err(panic) = catch_unwind(AssertUnwindSafe(|| body(&data))) {
                let message = panic
                    .downcast_ref::<String>()
                    .map(String::as_str)
                    .or_else(|| panic.downcast_ref::<&str>().copied())
                    .unwrap_or("(no message)");
                let first_line = message.lines().next().unwrap_or_default();
                failures.push(format!("{name}: {}: {first_line}", path.display()));
            }
        }
    }
    // Findings of a per-preset campaign (`LOGSTORE_FUZZ_DEVICE`) replay on
    // their preset: `regressions/ops-<device>/`.
    for (name, device) in [("ideal", None)]
        .into_iter()
        .chain(Device::ALL.map(|d| (d.name(), Some(d))))
    {
        for path in files(&root.join("regressions").join(format!("ops-{name}"))) {
            let data = std::fs::read(path.as_path()).expect("readable corpus file");
            replayed += 1;
            if let Err(panic) = catch_unwind(AssertUnwindSafe(|| ops_on(&data, device))) {
                let message = panic
                    .downcast_ref::<String>()
                    .map(String::as_str)
                    .unwrap_or("(no message)");
                let first_line = message.lines().next().unwrap_or_default();
                failures.push(format!("ops on {name}: {}: {first_line}", path.display()));
            }
        }
    }
    println!("replayed {replayed} corpus files");
    assert!(
        failures.is_empty(),
        "{} of {replayed} corpus files fail (replay one with `cargo fuzz run -s none <target> <file>`):\n{}",
        failures.len(),
        failures.join("\n")
    );
}
