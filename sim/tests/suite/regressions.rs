//! Every saved case under `corpus/regressions/*.json` replays clean: each
//! once failed (its `failure` field says how) and must never fail again.

use std::path::Path;

use logstore_sim::campaign::Case;

#[test]
fn every_saved_case_replays_clean() {
    let folder = Path::new(env!("CARGO_MANIFEST_DIR")).join("../corpus/regressions");
    let mut paths: Vec<_> = std::fs::read_dir(&folder)
        .expect("corpus/regressions exists")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    paths.sort();
    let mut failures = Vec::new();
    for path in &paths {
        let case = Case::load(path).unwrap_or_else(|e| panic!("{e}"));
        if let Err(failure) = case.run() {
            failures.push(format!("{}: {failure}", path.display()));
        }
    }
    println!("replayed {} saved cases", paths.len());
    assert!(
        failures.is_empty(),
        "cases fail again:\n{}",
        failures.join("\n")
    );
}
