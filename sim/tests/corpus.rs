//! Replays every file of every fuzz corpus (`corpus/<target>/` and
//! `corpus/regressions/<target>/`) through the target's body, on stable,
//! and names each file that panics; `corpus/regressions/ops-<device>/` on
//! that device, as `LOGSTORE_FUZZ_DEVICE` pinned the run that found it.
//! The files replay in parallel (rayon), each on its own.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};

use logstore_sim::campaign::fuzzing::{ops_on, TARGETS};
use logstore_sim::nand::Device;
use rayon::prelude::*;

/// The allocator the command line runs with (see `main.rs`): tests time
/// what users run.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

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

/// How a file is replayed: a target's body, or `ops` on a preset.
type Body = Box<dyn Fn(&[u8]) + Sync>;

/// A corpus file and the body that replays it, named for the message.
struct Replay {
    label: String,
    path: PathBuf,
    run: Body,
}

/// Every file to replay: each target's corpus and regressions, and the
/// per-preset findings of the `ops` target
/// (`regressions/ops-<device>/`, found with `LOGSTORE_FUZZ_DEVICE`) on
/// their preset.
fn replays(root: &Path) -> Vec<Replay> {
    let mut replays = Vec::new();
    for (name, body) in TARGETS {
        let corpus = files(&root.join(name));
        assert!(
            !corpus.is_empty(),
            "corpus/{name}/ is empty: every target keeps a seed corpus"
        );
        let regressions = files(&root.join("regressions").join(name));
        for path in corpus.into_iter().chain(regressions) {
            let run = Box::new(move |data: &[u8]| body(data));
            let label = name.to_string();
            replays.push(Replay { label, path, run });
        }
    }
    for (name, device) in [("ideal", None)]
        .into_iter()
        .chain(Device::ALL.map(|d| (d.name(), Some(d))))
    {
        for path in files(&root.join("regressions").join(format!("ops-{name}"))) {
            let run = Box::new(move |data: &[u8]| ops_on(data, device));
            let label = format!("ops on {name}");
            replays.push(Replay { label, path, run });
        }
    }
    replays
}

/// Replays every file, in parallel across the cores; a file whose body
/// panics is named with the panic's first line.
#[test]
fn every_corpus_file_passes_its_target() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../corpus");
    let replays = replays(&root);
    let failures: Vec<String> = replays
        .par_iter()
        .filter_map(|replay| {
            let data = std::fs::read(&replay.path).expect("readable corpus file");
            let panic = catch_unwind(AssertUnwindSafe(|| (replay.run)(&data))).err()?;
            let message = panic
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| panic.downcast_ref::<&str>().copied())
                .unwrap_or("(no message)");
            let first_line = message.lines().next().unwrap_or_default();
            Some(format!(
                "{}: {}: {first_line}",
                replay.label,
                replay.path.display()
            ))
        })
        .collect();
    let replayed = replays.len();
    println!("replayed {replayed} corpus files");
    assert!(
        failures.is_empty(),
        "{} of {replayed} corpus files fail (replay one with `cargo fuzz run -s none <target> <file>`):\n{}",
        failures.len(),
        failures.join("\n")
    );
}
