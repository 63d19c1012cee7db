//! `merge`: the shards of a sweep, run as four processes, fold into the
//! figures one unsharded run gives (issue 25), and results that do not
//! make one campaign are refused, named.

use serde_json::Value;
use std::path::Path;
use std::process::{Command, Stdio};

const SIM: &str = env!("CARGO_BIN_EXE_logstore-sim");

/// The `--json` result of `sweep` with `extra` arguments.
fn sweep_json(extra: &[&str], cases: &Path) -> Value {
    let out = Command::new(SIM)
        .args(["sweep", "--ops", "300", "--jobs", "1", "--json", "--cases"])
        .arg(cases)
        .args(extra)
        .output()
        .expect("the binary runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("a JSON result")
}

/// Everything but the timings, the campaign's name of its shards and the
/// replay commands (paths).
fn figures(mut result: Value) -> Value {
    let map = result.as_object_mut().expect("an object");
    for key in ["seconds", "seconds_slowest_shard", "campaign", "replay"] {
        map.remove(key);
    }
    result
}

/// Runs four shards of `seeds` at once, each its own process, and merges
/// their results; returns the merged result.
fn four_shards_merged(base: &[&str], dir: &Path) -> Value {
    let children: Vec<_> = (0..4)
        .map(|i| {
            let file = std::fs::File::create(dir.join(format!("shard-{i}.json"))).unwrap();
            Command::new(SIM)
                .args(["sweep", "--ops", "300", "--jobs", "1", "--json", "--cases"])
                .arg(dir.join("cases"))
                .args(base)
                .args(["--shard", &format!("{i}/4")])
                .stdout(file)
                .stderr(Stdio::null())
                .spawn()
                .expect("a shard starts")
        })
        .collect();
    for mut child in children {
        assert!(child.wait().expect("a shard ends").success());
    }
    let merged = dir.join("merged.json");
    // In another order than the shards': order does not matter.
    let out = Command::new(SIM)
        .arg("merge")
        .arg(&merged)
        .args([3, 1, 0, 2].map(|i| dir.join(format!("shard-{i}.json"))))
        .arg("--cases")
        .arg(dir.join("cases"))
        .output()
        .expect("merge runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(&std::fs::read_to_string(merged).unwrap()).unwrap()
}

#[test]
fn four_shards_merged_are_one_unsharded_sweep() {
    let dir = tempfile::tempdir().unwrap();
    for base in [
        &["--seeds", "0..60"][..],
        &["--seeds", "5..45", "--swarm"][..],
    ] {
        let one = sweep_json(base, &dir.path().join("cases"));
        let merged = four_shards_merged(base, dir.path());
        assert_eq!(merged["campaign"]["shards"], 4, "{base:?}");
        assert!(one["runs"].as_u64().unwrap() > 0);
        assert_eq!(figures(merged.clone()), figures(one), "{base:?}");
        // The report laid out from the folder: the merged campaign, its
        // figures as merged; the four shards skipped, named.
        let out = Command::new(SIM)
            .args(["report", "--json", "--from"])
            .arg(dir.path())
            .output()
            .expect("report runs");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let summary: Value = serde_json::from_slice(&out.stdout).unwrap();
        let campaigns = summary["campaigns"].as_array().unwrap();
        assert_eq!(campaigns.len(), 1, "{summary}");
        assert_eq!(campaigns[0]["runs"], merged["runs"]);
        assert_eq!(campaigns[0]["shards"], 4);
        assert_eq!(summary["skipped"].as_array().unwrap().len(), 4, "{summary}");
        let readme = std::fs::read_to_string(dir.path().join("README.md")).unwrap();
        let seeds = base[1];
        assert!(
            readme.contains(&format!("--seeds {seeds} --ops 300`")),
            "{readme}"
        );
    }
}

#[test]
fn results_that_are_not_one_campaign_are_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let cases = dir.path().join("cases");
    let write = |name: &str, value: &Value| {
        let path = dir.path().join(name);
        std::fs::write(&path, value.to_string()).unwrap();
        path
    };
    let first = write(
        "a.json",
        &sweep_json(&["--seeds", "0..8", "--shard", "0/2"], &cases),
    );
    let second = write(
        "b.json",
        &sweep_json(&["--seeds", "0..8", "--shard", "1/2"], &cases),
    );
    let other = write(
        "c.json",
        &sweep_json(&["--seeds", "0..9", "--shard", "1/2"], &cases),
    );
    let refused = |shards: &[&Path]| {
        let out = Command::new(SIM)
            .arg("merge")
            .arg(dir.path().join("out.json"))
            .args(shards)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{shards:?}");
        String::from_utf8_lossy(&out.stderr).to_string()
    };
    assert!(refused(&[&first]).contains("[1] of 2 are missing"));
    assert!(refused(&[&first, &first, &second]).contains("shard 0/2 is given twice"));
    assert!(refused(&[&first, &other]).contains("its seeds is \"0..9\""));
    let not_json = write("d.json", &Value::from("x"));
    assert!(refused(&[&not_json]).contains("names no sharded campaign"));
    std::fs::write(dir.path().join("e.json"), "{").unwrap();
    assert!(refused(&[&dir.path().join("e.json")]).contains("is not a result"));
    assert!(refused(&[&dir.path().join("absent.json")]).contains("absent.json"));
}
