//! The report is deterministic: two `--quick` runs write the same markdown
//! (timings aside) and byte-identical SVG plots, and every section is there.

use std::path::Path;

use logstore_sim::report::{write, ReportSize};

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

#[test]
fn quick_report_is_deterministic_and_complete() {
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let summary = write(ReportSize::Quick, a.path()).unwrap();
    write(ReportSize::Quick, b.path()).unwrap();
    assert_eq!(
        summary["failures"], 0,
        "the quick campaigns found failures: {summary}"
    );
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
