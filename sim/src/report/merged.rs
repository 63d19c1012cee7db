//! `report --from DIR`: the report laid out from campaign results run
//! elsewhere (most often `merge`'s, of shards run on many machines),
//! running no campaign itself.
//!
//! Owns that layout. Promises: every result file of the folder is either
//! laid out (one section a campaign, with the command that runs it again
//! and the one that replays each failure) or named as skipped with the
//! reason; the figures are the files', unchanged.

use std::path::{Path, PathBuf};

use serde_json::{json, Value};

/// Result files `report --from` reads from one folder, at most.
const RESULTS_MAX: usize = 10_000;
/// Largest result file it reads.
const RESULT_BYTES_MAX: u64 = 1 << 30;

/// Writes `out/README.md` from the campaign results (`*.json` naming a
/// `"campaign"`) in `dir`; returns the summary the terminal gets.
pub fn write_from(dir: &Path, out: &Path) -> Result<Value, String> {
    let (results, skipped) = read_results(dir)?;
    if results.is_empty() {
        return Err(format!(
            "{}: no campaign results (the JSON `merge` writes, or `sweep --json`'s)",
            dir.display()
        ));
    }
    let mut text = format!(
        "# logstore campaign results\n\nLaid out by `logstore-sim report --from {}` from {} result file(s); \
         no campaign was run to write it. A result merged from shards (`logstore-sim merge`) gives the \
         figures one unsharded run gives; its seconds are the work of every shard, summed, beside the \
         slowest shard's.\n",
        dir.display(),
        results.len()
    );
    let mut campaigns = Vec::new();
    let mut failures = 0;
    for (path, result) in &results {
        text.push_str(&section(path, result));
        failures += result["failures"].as_u64().unwrap_or(0);
        campaigns.push(json!({
            "file": path.display().to_string(),
            "command": command(result),
            "shards": shards(result),
            "runs": result["runs"],
            "crashes": result["crashes"],
            "failures": result["failures"],
            "replay": result["replay"],
        }));
    }
    if !skipped.is_empty() {
        text.push_str("\n## Skipped\n\n");
        for (path, why) in &skipped {
            text.push_str(&format!("- `{}`: {why}\n", path.display()));
        }
    }
    std::fs::create_dir_all(out).map_err(|e| format!("{}: {e}", out.display()))?;
    let readme = out.join("README.md");
    std::fs::write(&readme, text).map_err(|e| format!("{}: {e}", readme.display()))?;
    let skipped: Vec<String> = skipped
        .iter()
        .map(|(path, why)| format!("{}: {why}", path.display()))
        .collect();
    Ok(json!({
        "report": readme.display().to_string(),
        "campaigns": campaigns,
        "skipped": skipped,
        "failures": failures,
    }))
}

type Results = Vec<(PathBuf, Value)>;

/// The folder's `*.json` files naming a campaign, in name order, and the
/// others with why they were skipped.
fn read_results(dir: &Path) -> Result<(Results, Vec<(PathBuf, String)>), String> {
    let entries = std::fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let mut paths: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| path.extension().is_some_and(|e| e == "json"))
        .collect();
    if paths.len() > RESULTS_MAX {
        return Err(format!(
            "{}: {} JSON files, more than the {RESULTS_MAX} one report lays out",
            dir.display(),
            paths.len()
        ));
    }
    paths.sort();
    let (mut results, mut skipped) = (Vec::new(), Vec::new());
    for path in paths {
        match read_result(&path) {
            Ok(result) => results.push((path, result)),
            Err(why) => skipped.push((path, why)),
        }
    }
    Ok((results, skipped))
}

fn read_result(path: &Path) -> Result<Value, String> {
    let bytes = std::fs::metadata(path).map_err(|e| e.to_string())?.len();
    if bytes > RESULT_BYTES_MAX {
        return Err(format!("{bytes} bytes, more than a result holds"));
    }
    let text = std::fs::read_to_string(path).map_err(|e| e.to_string())?;
    let value: Value = serde_json::from_str(&text).map_err(|e| format!("not JSON: {e}"))?;
    if !value["campaign"].is_object() || !value["runs"].is_u64() {
        return Err("names no campaign (not a result of `merge` or `sweep --json`)".into());
    }
    if value["campaign"].get("shard").is_some_and(|s| s[1] != 1) {
        return Err(
            "one shard of a campaign: merge its shards first (`logstore-sim merge`)".into(),
        );
    }
    Ok(value)
}

/// The command that runs the campaign again, unsharded.
fn command(result: &Value) -> String {
    let campaign = &result["campaign"];
    format!(
        "logstore-sim {} --seeds {} --ops {}",
        campaign["command"].as_str().unwrap_or("sweep"),
        campaign["seeds"].as_str().unwrap_or("?"),
        campaign["ops"]
    )
}

fn shards(result: &Value) -> u64 {
    result["campaign"]["shards"].as_u64().unwrap_or(1)
}

/// One campaign's section.
fn section(path: &Path, result: &Value) -> String {
    let figure = |key: &str| result[key].as_u64().map_or("-".into(), |n| n.to_string());
    let mut text = format!(
        "\n## `{}`\n\nFrom `{}`: {} shard(s), part `{}`, logstore-sim {}.\n\n",
        command(result),
        path.display(),
        shards(result),
        result["campaign"]["part"].as_str().unwrap_or("?"),
        result["campaign"]["version"].as_str().unwrap_or("?"),
    );
    text.push_str("| runs | power cuts recovered | clean reopens | device failures | failures | flushed entries lost | stale | back after delete | work seconds | slowest shard seconds |\n");
    text.push_str("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    let seconds = |key: &str| {
        result[key]
            .as_f64()
            .map_or("-".into(), |s| format!("{s:.1}"))
    };
    text.push_str(&format!(
        "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |\n",
        figure("runs"),
        figure("crashes"),
        figure("reopens"),
        figure("device_failures"),
        figure("failures"),
        figure("lost_flushed"),
        figure("stale"),
        figure("resurrected"),
        seconds("seconds"),
        seconds("seconds_slowest_shard"),
    ));
    if let Some(drawn) = result["drawn"].as_u64() {
        let devices = result["spread"]["geometries"]
            .as_object()
            .map_or(String::new(), |g| {
                g.iter()
                    .map(|(device, n)| format!("{device} ({n} geometries)"))
                    .collect::<Vec<_>>()
                    .join(", ")
            });
        text.push_str(&format!(
            "\nSwarm: {drawn} configurations drawn, {} refused by `create`; devices drawn: {devices}.\n",
            figure("refused")
        ));
    }
    let replays: Vec<&str> = result["replay"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    if replays.is_empty() {
        text.push_str("\nNo failures.\n");
    } else {
        text.push_str("\nFailures, each replayed by:\n\n");
        for replay in replays {
            text.push_str(&format!("- `{replay}`\n"));
        }
    }
    text
}
