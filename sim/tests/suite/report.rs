//! The report is deterministic: two `--quick` runs of the command line
//! (its short summary, and `--json`) write the same markdown (timings
//! aside) and byte-identical SVG plots, and every section is there.

use std::path::Path;

/// The report without the machine-dependent parts between the markers.
fn without_timings(text: &str) -> String {
    let mut rest = text;
    let mut kept = String::new();
    let mut blocks = 0;
    while let Some(start) = rest.find("<!-- timings:begin -->") {
        let end = rest[start..]
            .find("<!-- timings:end -->")
            .expect("every timings block ends")
            + start;
        kept.push_str(&rest[..start]);
        rest = &rest[end..];
        blocks += 1;
    }
    assert!(blocks >= 1, "no timings block");
    kept.push_str(rest);
    kept
}

fn read(dir: &Path, name: &str) -> String {
    std::fs::read_to_string(dir.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn report(args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_logstore-sim"))
        .arg("report")
        .args(args)
        .output()
        .expect("the binary runs")
}

/// Two `report --quick` runs, as a user makes them: one printing its
/// short summary, one `--json`. Each prints what it should, and both
/// write the same report (timings aside) and the same plots.
#[test]
fn quick_report_is_deterministic_complete_and_printed_short() {
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let plain = report(&["--quick", "--out", &a.path().display().to_string()]);
    assert_eq!(plain.status.code(), Some(0));
    let printed = String::from_utf8_lossy(&plain.stdout);
    assert!(printed.lines().count() >= 8, "{printed}");
    for line in printed.lines() {
        assert!(line.chars().count() <= 300, "long line: {line}");
    }
    assert!(printed.contains("failures: 0"), "{printed}");
    let json = report(&[
        "--quick",
        "--json",
        "--out",
        &b.path().display().to_string(),
    ]);
    assert_eq!(json.status.code(), Some(0));
    let figures: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(figures["failures"], 0, "the quick campaigns found failures");
    assert!(figures["sections"]["speed"].is_object());
    let text = read(a.path(), "README.md");
    assert_eq!(
        without_timings(&text),
        without_timings(&read(b.path(), "README.md"))
    );
    for heading in [
        "## Fill",
        "## Crash campaigns",
        "## Wear",
        "## Write amplification",
        "## RAM per entry",
        "## Lookups across incarnations",
        "## Speed",
    ] {
        assert!(text.contains(heading), "missing section {heading}");
    }
    let svgs: Vec<_> = std::fs::read_dir(a.path())
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().to_string()))
        .filter(|name| name.ends_with(".svg"))
        .collect();
    assert!(svgs.len() >= 7, "plots: {svgs:?}");
    for svg in &svgs {
        assert_eq!(
            read(a.path(), svg),
            read(b.path(), svg),
            "{svg} differs between runs"
        );
        assert!(
            text.contains(svg.as_str()),
            "{svg} not linked from the report"
        );
    }
}
