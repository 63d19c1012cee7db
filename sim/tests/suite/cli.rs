//! The command line refuses bad input with exit status 2 and a one-line
//! reason, before allocating anything. (`report`'s short summary and
//! `--json`: `report.rs`.)

use std::path::Path;
use std::process::{Command, Output};

fn sim(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_logstore-sim"))
        .args(args)
        .output()
        .expect("the binary runs")
}

/// Exit 2, nothing on stdout, one line on stderr starting with `error:`.
fn refused(args: &[&str]) -> String {
    let out = sim(args);
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
    assert!(out.stdout.is_empty(), "{args:?} printed to stdout");
    assert_eq!(stderr.lines().count(), 1, "{args:?}: {stderr}");
    assert!(stderr.starts_with("error: "), "{args:?}: {stderr}");
    stderr
}

#[test]
fn sizes_out_of_range_are_refused() {
    assert!(refused(&["run", "--ops", "0"]).contains("--ops"));
    assert!(refused(&["run", "--ops", "1000000000000"]).contains("in memory"));
    refused(&["sweep", "--seeds", "0..3", "--ops", "0"]);
    refused(&["exhaustive", "--ops", "0"]);
    assert!(refused(&["fill", "--order", "40"]).contains("--order"));
    refused(&["fill", "--bucket", "3"]);
    refused(&["ingest", "--cluster-bytes", "0", "."]);
}

#[test]
fn ingest_of_nothing_readable_names_the_path() {
    assert!(refused(&["ingest", "/no/such/path"]).contains("/no/such/path"));
    assert!(refused(&["ingest", "/dev/null"]).contains("character device"));
}

/// A saved case with one field changed, written to `dir`.
fn case_with(dir: &Path, name: &str, change: impl Fn(&mut serde_json::Value)) -> String {
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("../corpus/regressions");
    let text = std::fs::read_to_string(corpus.join("sweep-dedup-seed630-step94.json")).unwrap();
    let mut case: serde_json::Value = serde_json::from_str(&text).unwrap();
    change(&mut case);
    let path = dir.join(format!("{name}.json"));
    std::fs::write(&path, case.to_string()).unwrap();
    path.display().to_string()
}

#[test]
fn invalid_case_files_are_bad_input_not_failed_checks() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let cases = [
        case_with(d, "page", |c| {
            c["config"]["geometry"]["page_bytes"] = 100.into()
        }),
        case_with(d, "order", |c| c["config"]["store"]["order"] = 40.into()),
        case_with(d, "slots", |c| {
            c["config"]["store"]["bucket_slots"] = 3.into()
        }),
        case_with(d, "journal", |c| {
            c["config"]["store"]["journal_blocks"] = 0.into()
        }),
        case_with(d, "rate", |c| {
            c["config"]["faults"]["program_fail"] = (-0.5).into()
        }),
        case_with(d, "rate2", |c| {
            c["config"]["faults"]["erase_fail"] = 2.0.into()
        }),
        case_with(d, "ops", |c| c["ops"] = 1_000_000_000_000_000u64.into()),
        case_with(d, "device", |c| {
            c["config"]["geometry"] = serde_json::json!({
                "page_bytes": 65536, "pages_per_block": 4096, "blocks": 16777216
            })
        }),
    ];
    for path in &cases {
        refused(&["replay", path]);
    }
    let old = case_with(d, "old", |c| {
        c["version"] = "0.0.1".into();
        c["workload"] = "retired-kind".into();
    });
    assert!(refused(&["replay", &old]).contains("written by logstore-sim 0.0.1"));
}

/// Bad blocks that leave the store too few good blocks, and a part whose
/// blocks endure no cycle, are bad input (exit 2, one line), not a check
/// that failed: on the command line (run, sweep, exhaustive) and in a case
/// file.
#[test]
fn a_device_that_cannot_hold_the_store_is_bad_input() {
    let every: Vec<String> = (0..128).map(|b| b.to_string()).collect();
    let every = every.join(",");
    for command in [
        vec!["run", "--ops", "100", "--bad-blocks", &every],
        vec![
            "sweep",
            "--seeds",
            "0..2",
            "--ops",
            "100",
            "--bad-blocks",
            &every,
        ],
        vec!["exhaustive", "--ops", "50", "--bad-blocks", &every],
    ] {
        assert!(refused(&command).contains("good blocks"), "{command:?}");
    }
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let all_bad = case_with(d, "all-bad", |c| {
        c["config"]["bad_blocks"] = (0..128).collect::<Vec<u32>>().into()
    });
    assert!(refused(&["replay", &all_bad]).contains("good blocks"));
    let no_endurance = case_with(d, "endurance", |c| {
        c["config"]["endurance_cycles"] = 0.into()
    });
    assert!(refused(&["replay", &no_endurance]).contains("endurance"));
}

#[test]
fn a_swarm_draws_its_own_part_and_counts_what_it_drew() {
    let refusal = refused(&["sweep", "--swarm", "--seeds", "0..3", "--device", "mlc"]);
    assert!(refusal.contains("--swarm"), "{refusal}");
    let refusal = refused(&["wear", "--swarm", "--seeds", "0..3", "--endurance", "5"]);
    assert!(refusal.contains("--endurance"), "{refusal}");
    // Usage errors (clap's, several lines): no seeds, an empty range.
    assert_eq!(sim(&["wear", "--swarm"]).status.code(), Some(2));
    assert_eq!(
        sim(&["wear", "--swarm", "--seeds", "3..3"]).status.code(),
        Some(2)
    );
    let cases = tempfile::tempdir().unwrap();
    let folder = cases.path().to_str().unwrap();
    let args = [
        "sweep", "--swarm", "--seeds", "0..20", "--ops", "200", "--cases", folder, "--json",
    ];
    let out = sim(&args);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let figures: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let drawn = figures["drawn"].as_u64().unwrap();
    let (runs, refused) = (
        figures["runs"].as_u64().unwrap(),
        figures["refused"].as_u64().unwrap(),
    );
    assert_eq!((drawn, runs + refused), (20, 20), "{figures}");
    assert_eq!(figures["failures"], 0, "{figures}");
    assert!(figures["spread"]["geometries"].as_object().unwrap().len() >= 3);
}

/// Counts bounded before anything is allocated or spawned, a case path
/// that is no regular file refused before it is read (a FIFO would block
/// for ever), and a failed write of the figures an error, not exit 0.
#[test]
fn absurd_counts_fifos_and_full_disks_are_refused_in_one_line() {
    assert!(refused(&["sweep", "--seeds", "0..1000000000000", "--ops", "10"]).contains("at most"));
    assert!(refused(&["sweep", "--seeds", "0..10", "--jobs", "100000"]).contains("cores"));
    refused(&["sweep", "--seeds", "0..10", "--jobs", "0"]);
    refused(&["exhaustive", "--ops", "10", "--jobs", "100000"]);
    refused(&["fill", "--order", "4", "--seeds", "1000000000000"]);
    refused(&["corrupt", "--swarm", "--seeds", "0..1000000000000"]);
    refused(&["no-such-command"]);
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("case.json");
    let made = Command::new("mkfifo").arg(&fifo).status();
    if made.is_ok_and(|s| s.success()) {
        let why = refused(&["replay", fifo.to_str().unwrap()]);
        assert!(why.contains("not a regular file"), "{why}");
    }
    assert!(refused(&["replay", dir.path().to_str().unwrap()]).contains("not a regular file"));
    if let Ok(full) = std::fs::OpenOptions::new().write(true).open("/dev/full") {
        let out = Command::new(env!("CARGO_BIN_EXE_logstore-sim"))
            .args(["fill", "--order", "4", "--seeds", "2", "--json"])
            .stdout(full)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        assert!(stderr.contains("writing to stdout"), "{stderr}");
    }
}

/// `--help` describes every command by its own summary (a doc comment
/// once slid onto the next command, leaving `lookups` without one).
#[test]
fn help_describes_each_command_by_its_own_summary() {
    let out = sim(&["--help"]);
    let help = String::from_utf8_lossy(&out.stdout);
    for (command, word) in [
        ("corrupt", "Faults placed"),
        ("lookups", "Lookups"),
        ("sweep", "seeds"),
    ] {
        let line = help
            .lines()
            .find(|l| l.trim_start().starts_with(&format!("{command} ")))
            .unwrap_or_else(|| panic!("{command} not listed: {help}"));
        assert!(line.contains(word), "{command}: {line}");
    }
}

/// The index through the subject seam runs from the command line and says
/// what it checked; what the seam does not take is refused by name, and
/// littlefs in a build without it names the feature.
#[test]
fn the_subject_seam_runs_the_index_and_refuses_what_it_does_not_take() {
    let seam = ["exhaustive", "--subject", "logstore-seam", "--ops", "200"];
    let out = sim(&[&seam[..], &["--device", "mlc", "--mode", "torn", "--json"]].concat());
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let figures: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(figures["subject"], "logstore");
    assert_eq!(figures["device"], "mlc");
    assert!(figures["crash_points"].as_u64().unwrap() > 10, "{figures}");
    assert_eq!(figures["failures"], 0, "{figures}");
    assert!(refused(&[&seam[..], &["--no-ecc"]].concat()).contains("--no-ecc"));
    assert!(refused(&[&seam[..], &["--io-burst", "4"]].concat()).contains("logstore-seam"));
    let planted = refused(&[&seam[..], &["--adapter-bug", "no-sync"]].concat());
    assert!(planted.contains("--subject littlefs only"), "{planted}");
    let corrupt = ["corrupt", "--subject", "logstore-seam", "--flushes", "2"];
    let out = sim(&[&corrupt[..], &["--ops-per-flush", "60", "--json"]].concat());
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let figures: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(figures["subject"], "logstore");
    assert!(figures["placements"].as_u64().unwrap() > 20, "{figures}");
    assert_eq!(figures["silent"], 0, "{figures}");
    assert!(refused(&[&corrupt[..], &["--no-pairs"]].concat()).contains("logstore-seam"));
    assert!(
        refused(&["corrupt", "--subject", "logstore-seam", "--flushes", "65"]).contains("1 to 64")
    );
    if !cfg!(feature = "littlefs") {
        let why = refused(&["exhaustive", "--subject", "littlefs"]);
        assert!(why.contains("--features littlefs"), "{why}");
        let why = refused(&["corrupt", "--subject", "littlefs"]);
        assert!(why.contains("--features littlefs"), "{why}");
    }
}

/// A campaign with `LOGSTORE_ECC_TABLES` set reads every page through the
/// tables, the path a CPU without carry-less multiplication takes, and
/// one with `LOGSTORE_ECC_NO_WIDE` set folds one 128-bit product at a
/// time (a CPU without AVX-512's): both find the same figures, page for
/// page, as the path this CPU takes.
#[test]
fn a_campaign_through_the_ecc_tables_finds_the_same() {
    let args = [
        "exhaustive",
        "--ops",
        "400",
        "--device",
        "mlc",
        "--mode",
        "torn",
        "--json",
    ];
    // A failing campaign saves its cases under `corpus/regressions` of its
    // working folder: a temporary one, not the source tree.
    let folder = tempfile::tempdir().unwrap();
    let run = |off: Option<&str>| {
        let mut command = Command::new(env!("CARGO_BIN_EXE_logstore-sim"));
        command
            .args(args)
            .current_dir(folder.path())
            .env_remove(logstore::ECC_TABLES_ONLY_VAR)
            .env_remove(logstore::ECC_NO_WIDE_VAR);
        if let Some(var) = off {
            command.env(var, "1");
        }
        let out = command.output().expect("the binary runs");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let mut figures: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let path = figures["ecc_remainders"].as_str().unwrap().to_string();
        for timing in ["seconds", "crash_points_per_s", "ecc_remainders"] {
            figures.as_object_mut().unwrap().remove(timing);
        }
        (path, figures)
    };
    let (native, native_figures) = run(None);
    let (narrow, narrow_figures) = run(Some(logstore::ECC_NO_WIDE_VAR));
    let (tables, tables_figures) = run(Some(logstore::ECC_TABLES_ONLY_VAR));
    assert_eq!(tables, "tables");
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("pclmulqdq") {
        assert_eq!(narrow, "carry-less multiplication");
        let wide = std::arch::is_x86_feature_detected!("avx512f")
            && std::arch::is_x86_feature_detected!("vpclmulqdq");
        let expected = if wide {
            "carry-less multiplication, 512-bit"
        } else {
            "carry-less multiplication"
        };
        assert_eq!(native, expected);
    }
    let _ = narrow;
    assert!(
        tables_figures["crash_points"].as_u64().unwrap() > 100,
        "{tables_figures}"
    );
    assert_eq!(native_figures, tables_figures);
    assert_eq!(narrow_figures, tables_figures);
}

/// The syndromes' paths placed on purpose: a sweep on the mlc preset
/// corrects bits (its runs age the part), so each corrected step goes
/// through the syndromes, and the carry-less reductions (with 512-bit
/// products where the CPU has them), the 128-bit ones
/// (`LOGSTORE_ECC_NO_WIDE`) and the tables (`LOGSTORE_ECC_TABLES`) find
/// the same figures, every corrected bit included.
#[test]
fn corrections_through_every_syndrome_path_find_the_same() {
    let args = [
        "sweep", "--seeds", "0..40", "--ops", "400", "--device", "mlc", "--json",
    ];
    // A failing campaign saves its cases under `corpus/regressions` of its
    // working folder: a temporary one, not the source tree.
    let folder = tempfile::tempdir().unwrap();
    let run = |off: Option<&str>| {
        let mut command = Command::new(env!("CARGO_BIN_EXE_logstore-sim"));
        command
            .args(args)
            .current_dir(folder.path())
            .env_remove(logstore::ECC_TABLES_ONLY_VAR)
            .env_remove(logstore::ECC_NO_WIDE_VAR);
        if let Some(var) = off {
            command.env(var, "1");
        }
        let out = command.output().expect("the binary runs");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let mut figures: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        figures.as_object_mut().unwrap().remove("seconds");
        figures
    };
    let native = run(None);
    assert!(
        native["bits_corrected"].as_u64().unwrap() > 100,
        "the sweep corrects bits: {native}"
    );
    assert_eq!(native["failures"], 0, "{native}");
    assert_eq!(run(Some(logstore::ECC_NO_WIDE_VAR)), native);
    assert_eq!(run(Some(logstore::ECC_TABLES_ONLY_VAR)), native);
}

/// `craft` runs its placements and tallies them in JSON; one placement
/// replays alone (the one the campaign found, now refused cleanly); a
/// field outside a page, a store that is not there, or a size out of
/// range is bad input (exit 2), not a failed check.
#[test]
fn craft_counts_its_placements_and_replays_one() {
    let out = sim(&["craft", "--field-bytes", "16", "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let figures: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(figures["stores"], 4);
    assert!(
        figures["placements"].as_u64().unwrap() > 10_000,
        "{figures}"
    );
    assert_eq!(
        figures["failures"].as_array().unwrap().len(),
        0,
        "{figures}"
    );
    let one = [
        "craft", "--store", "2", "--at", "31036", "--width", "4", "--value", "0x0", "--json",
    ];
    let out = sim(&one);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let replay: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(replay["placement"]["at"], 31036);
    assert!(replay["failure"].is_null(), "{replay}");
    assert!(
        refused(&["craft", "--store", "2", "--at", "255", "--width", "4", "--value", "1"])
            .contains("--at 255")
    );
    assert!(
        refused(&["craft", "--store", "7", "--at", "0", "--width", "4", "--value", "1"])
            .contains("--store 7")
    );
    assert!(refused(&["craft", "--field-bytes", "4"]).contains("--field-bytes"));
    refused(&["craft", "--store", "1"]);
}
