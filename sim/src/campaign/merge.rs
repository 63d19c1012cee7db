//! Folding the `--json` results of a sharded sweep into one.
//!
//! This module owns the rules by which shard results add up, and one
//! promise: [`merge`] of every shard of one campaign gives the figures one
//! unsharded run of it gives (every count summed, every failing case in
//! seed order, a swarm's spread as one draw of all its seeds), the seconds
//! summed as work done with the slowest shard's beside them; or a typed
//! [`MergeError`] naming what does not fit (results of another campaign,
//! a shard twice, shards missing, a figure the shards disagree on).
//!
//! A shard's result names its campaign (`"campaign"`: the command, seeds,
//! steps, part, version and its shard `[index, count]`) and carries its
//! failing cases whole (`"cases"`), so the merge needs nothing but the
//! result files: a shard run on another machine leaves its case files
//! there.

use serde_json::{Map, Value};
use std::collections::{BTreeMap, BTreeSet};

/// Why shard results could not be merged.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum MergeError {
    #[error("no shard results to merge")]
    Empty,
    #[error(
        "result {index} names no sharded campaign (\"campaign\" with its \"shard\"): \
         merge takes the --json output of `sweep` and `sweep --swarm`"
    )]
    NotAShard { index: usize },
    #[error("result {index} is of another campaign: its {key} is {found}, the first result's {expected}")]
    OtherCampaign {
        index: usize,
        key: String,
        found: String,
        expected: String,
    },
    #[error("shard {index}/{count} is given twice")]
    Twice { index: u64, count: u64 },
    #[error("shards {missing:?} of {count} are missing: merge every shard of the campaign")]
    Missing { missing: Vec<u64>, count: u64 },
    #[error("the shards disagree on {key}: {first} and {other}")]
    Disagree {
        key: String,
        first: String,
        other: String,
    },
}

/// Shards at most one merge takes (a shard a seed of the largest sweep).
pub const SHARDS_MAX: u64 = 1 << 20;

/// The merged figures of `shards` (each the `--json` output of one shard
/// of the same campaign, in any order). The result's `"campaign"` has
/// `"shards"` (the count) instead of one shard; `"replay"` is left for the
/// caller, who saves the cases.
pub fn merge(shards: &[Value]) -> Result<Value, MergeError> {
    let first = shards.first().ok_or(MergeError::Empty)?;
    let (campaign, count) = campaign_of(first, 0)?;
    let mut seen = BTreeSet::new();
    for (index, shard) in shards.iter().enumerate() {
        let (other, other_count) = campaign_of(shard, index)?;
        same_campaign(&campaign, count, &other, other_count, index)?;
        let shard_index = shard_index(shard);
        if !seen.insert(shard_index) {
            return Err(MergeError::Twice {
                index: shard_index,
                count,
            });
        }
    }
    let missing: Vec<u64> = (0..count).filter(|i| !seen.contains(i)).collect();
    if !missing.is_empty() {
        return Err(MergeError::Missing { missing, count });
    }
    let mut merged = figures_of(first);
    let mut seconds_max = seconds_of(first);
    for shard in &shards[1..] {
        fold(&mut merged, &figures_of(shard), "")?;
        seconds_max = seconds_max.max(seconds_of(shard));
    }
    finish(&mut merged, campaign, count, seconds_max);
    Ok(Value::Object(merged))
}

/// The campaign a result names, without its shard, and its shard count.
fn campaign_of(result: &Value, index: usize) -> Result<(Map<String, Value>, u64), MergeError> {
    let not_a_shard = MergeError::NotAShard { index };
    let mut campaign = result
        .get("campaign")
        .and_then(Value::as_object)
        .cloned()
        .ok_or(not_a_shard.clone())?;
    let shard = campaign.remove("shard").ok_or(not_a_shard.clone())?;
    let pair = shard
        .as_array()
        .filter(|pair| pair.len() == 2)
        .and_then(|pair| Some((pair[0].as_u64()?, pair[1].as_u64()?)));
    match pair {
        Some((i, n)) if i < n && n <= SHARDS_MAX => Ok((campaign, n)),
        _ => Err(not_a_shard),
    }
}

fn shard_index(result: &Value) -> u64 {
    result["campaign"]["shard"][0]
        .as_u64()
        .expect("checked by campaign_of")
}

fn same_campaign(
    first: &Map<String, Value>,
    count: u64,
    other: &Map<String, Value>,
    other_count: u64,
    index: usize,
) -> Result<(), MergeError> {
    let differs = |key: &str, expected: String, found: String| MergeError::OtherCampaign {
        index,
        key: key.to_string(),
        found,
        expected,
    };
    if count != other_count {
        return Err(differs(
            "shard count",
            count.to_string(),
            other_count.to_string(),
        ));
    }
    let keys: BTreeSet<&String> = first.keys().chain(other.keys()).collect();
    for key in keys {
        let (expected, found) = (first.get(key), other.get(key));
        if expected != found {
            let text = |v: Option<&Value>| v.map_or("absent".to_string(), Value::to_string);
            return Err(differs(key, text(expected), text(found)));
        }
    }
    Ok(())
}

/// A result's figures: everything but its campaign and replay commands.
fn figures_of(result: &Value) -> Map<String, Value> {
    let mut figures = result.as_object().cloned().unwrap_or_default();
    figures.remove("campaign");
    figures.remove("replay");
    figures
}

fn seconds_of(result: &Value) -> f64 {
    result["seconds"].as_f64().unwrap_or(0.0)
}

/// Folds `other` into `merged`, key by key (`path` names where, for
/// errors): counts add, maps fold, the cases and a swarm's spread join;
/// anything else must be equal.
fn fold(
    merged: &mut Map<String, Value>,
    other: &Map<String, Value>,
    path: &str,
) -> Result<(), MergeError> {
    for (key, value) in other {
        let at = if path.is_empty() {
            key.clone()
        } else {
            format!("{path}.{key}")
        };
        let Some(mine) = merged.get_mut(key) else {
            merged.insert(key.clone(), value.clone());
            continue;
        };
        match (at.as_str(), &mut *mine, value) {
            ("seconds", _, _) => {
                *mine = Value::from(mine.as_f64().unwrap_or(0.0) + value.as_f64().unwrap_or(0.0));
            }
            ("cases", Value::Array(cases), Value::Array(more)) => {
                cases.extend(more.iter().cloned())
            }
            ("spread", Value::Object(spread), Value::Object(more)) => fold_spread(spread, more),
            (_, Value::Object(map), Value::Object(more)) => fold(map, more, &at)?,
            (_, Value::Number(a), Value::Number(b)) if a.is_u64() && b.is_u64() => {
                let sum = a
                    .as_u64()
                    .unwrap_or(0)
                    .saturating_add(b.as_u64().unwrap_or(0));
                *mine = Value::from(sum);
            }
            (_, mine, value) if *mine == *value => {}
            (_, mine, value) => {
                return Err(MergeError::Disagree {
                    key: at,
                    first: mine.to_string(),
                    other: value.to_string(),
                })
            }
        }
    }
    Ok(())
}

/// A swarm's spread: ranges widen, kinds and shapes join; the geometries
/// a device are counted again from the joined shapes.
fn fold_spread(spread: &mut Map<String, Value>, other: &Map<String, Value>) {
    let ranges = spread
        .entry("ranges")
        .or_insert_with(|| Value::Object(Map::new()));
    if let (Value::Object(ranges), Some(Value::Object(more))) = (ranges, other.get("ranges")) {
        for (name, range) in more {
            let pair = |v: &Value| {
                (
                    v[0].as_f64().unwrap_or(f64::NAN),
                    v[1].as_f64().unwrap_or(f64::NAN),
                )
            };
            let (low, high) = pair(range);
            let joined = match ranges.get(name) {
                Some(mine) => {
                    let (my_low, my_high) = pair(mine);
                    (my_low.min(low), my_high.max(high))
                }
                None => (low, high),
            };
            ranges.insert(name.clone(), serde_json::json!([joined.0, joined.1]));
        }
    }
    let kinds = spread
        .entry("kinds")
        .or_insert_with(|| Value::Object(Map::new()));
    if let (Value::Object(kinds), Some(Value::Object(more))) = (kinds, other.get("kinds")) {
        for (name, values) in more {
            let joined = joined_strings(kinds.get(name), values);
            kinds.insert(name.clone(), joined);
        }
    }
    let shapes = joined_values(spread.get("shapes"), other.get("shapes"));
    let mut geometries: BTreeMap<String, u64> = BTreeMap::new();
    for shape in &shapes {
        if let Some(device) = shape[0].as_str() {
            *geometries.entry(device.to_string()).or_default() += 1;
        }
    }
    spread.insert("shapes".into(), Value::Array(shapes));
    spread.insert(
        "geometries".into(),
        serde_json::to_value(geometries).unwrap_or_default(),
    );
}

/// The sorted union of two arrays of strings.
fn joined_strings(mine: Option<&Value>, other: &Value) -> Value {
    let mut all: BTreeSet<String> = BTreeSet::new();
    for list in [mine, Some(other)].into_iter().flatten() {
        for value in list.as_array().into_iter().flatten() {
            all.insert(
                value
                    .as_str()
                    .map_or_else(|| value.to_string(), str::to_string),
            );
        }
    }
    Value::from(all.into_iter().collect::<Vec<_>>())
}

/// The sorted union of two arrays of any values, in the order a
/// `BTreeSet` of the tuples they serialize gives (strings by text,
/// numbers by value, arrays element by element).
fn joined_values(mine: Option<&Value>, other: Option<&Value>) -> Vec<Value> {
    let mut all: Vec<Value> = [mine, other]
        .into_iter()
        .flatten()
        .filter_map(Value::as_array)
        .flatten()
        .cloned()
        .collect();
    all.sort_by(order);
    all.dedup();
    all
}

fn order(a: &Value, b: &Value) -> std::cmp::Ordering {
    match (a, b) {
        (Value::String(a), Value::String(b)) => a.cmp(b),
        (Value::Number(a), Value::Number(b)) => {
            let (a, b) = (a.as_f64().unwrap_or(0.0), b.as_f64().unwrap_or(0.0));
            a.total_cmp(&b)
        }
        (Value::Array(a), Value::Array(b)) => a
            .iter()
            .zip(b)
            .map(|(a, b)| order(a, b))
            .find(|o| o.is_ne())
            .unwrap_or_else(|| a.len().cmp(&b.len())),
        (a, b) => a.to_string().cmp(&b.to_string()),
    }
}

/// The merged result's campaign (its shard count), the slowest shard's
/// seconds, and the cases in seed order (as one run lists them).
fn finish(
    merged: &mut Map<String, Value>,
    mut campaign: Map<String, Value>,
    count: u64,
    seconds_max: f64,
) {
    campaign.insert("shards".into(), Value::from(count));
    merged.insert("campaign".into(), Value::Object(campaign));
    merged.insert("seconds_slowest_shard".into(), Value::from(seconds_max));
    if let Some(Value::Array(cases)) = merged.get_mut("cases") {
        cases.sort_by_key(|case| case["seed"].as_u64().unwrap_or(u64::MAX));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn shard(index: u64, count: u64, figures: Value) -> Value {
        let mut result = figures;
        result["campaign"] = json!({"command": "sweep", "seeds": "0..10", "shard": [index, count]});
        result
    }

    /// Counts add at any depth, seconds add (the slowest kept beside),
    /// cases join in seed order, a swarm's spread widens and joins, and
    /// its geometries are counted again from the joined shapes.
    #[test]
    fn shards_fold_as_one_run() {
        let a = shard(
            1,
            2,
            json!({"runs": 3, "seconds": 2.0, "by": {"x": 1}, "cases": [{"seed": 7}],
                "spread": {"ranges": {"blocks": [10.0, 20.0]}, "kinds": {"device": ["mlc"]},
                    "shapes": [["mlc", 2048, 64, 100]], "geometries": {"mlc": 1}}}),
        );
        let b = shard(
            0,
            2,
            json!({"runs": 4, "seconds": 1.0, "by": {"x": 2, "y": 5}, "cases": [{"seed": 2}],
                "spread": {"ranges": {"blocks": [5.0, 12.0], "order": [3.0, 4.0]},
                    "kinds": {"device": ["ideal", "mlc"]},
                    "shapes": [["mlc", 512, 64, 100], ["mlc", 2048, 64, 100], ["ideal", 512, 16, 8]],
                    "geometries": {"mlc": 2, "ideal": 1}}}),
        );
        let merged = merge(&[a, b]).unwrap();
        assert_eq!(merged["runs"], 7);
        assert_eq!(merged["seconds"], 3.0);
        assert_eq!(merged["seconds_slowest_shard"], 2.0);
        assert_eq!(merged["by"], json!({"x": 3, "y": 5}));
        assert_eq!(merged["cases"], json!([{"seed": 2}, {"seed": 7}]));
        let spread = &merged["spread"];
        assert_eq!(
            spread["ranges"],
            json!({"blocks": [5.0, 20.0], "order": [3.0, 4.0]})
        );
        assert_eq!(spread["kinds"]["device"], json!(["ideal", "mlc"]));
        assert_eq!(
            spread["shapes"],
            json!([
                ["ideal", 512, 16, 8],
                ["mlc", 512, 64, 100],
                ["mlc", 2048, 64, 100]
            ])
        );
        assert_eq!(spread["geometries"], json!({"ideal": 1, "mlc": 2}));
        assert_eq!(
            merged["campaign"],
            json!({"command": "sweep", "seeds": "0..10", "shards": 2})
        );
    }

    #[test]
    fn what_does_not_make_one_campaign_is_named() {
        let one = |i, n| shard(i, n, json!({"runs": 1, "note": "a"}));
        assert_eq!(merge(&[]), Err(MergeError::Empty));
        assert_eq!(
            merge(&[json!({"runs": 1})]),
            Err(MergeError::NotAShard { index: 0 })
        );
        let mut bad_shard = one(0, 1);
        bad_shard["campaign"]["shard"] = json!([2, 2]);
        assert_eq!(merge(&[bad_shard]), Err(MergeError::NotAShard { index: 0 }));
        assert_eq!(
            merge(&[one(0, 3), one(2, 3)]),
            Err(MergeError::Missing {
                missing: vec![1],
                count: 3
            })
        );
        assert_eq!(
            merge(&[one(0, 2), one(0, 2)]),
            Err(MergeError::Twice { index: 0, count: 2 })
        );
        assert!(matches!(
            merge(&[one(0, 2), one(1, 3)]),
            Err(MergeError::OtherCampaign { index: 1, .. })
        ));
        let mut other = one(1, 2);
        other["campaign"]["seeds"] = json!("0..11");
        assert!(matches!(
            merge(&[one(0, 2), other]),
            Err(MergeError::OtherCampaign { index: 1, ref key, .. }) if key == "seeds"
        ));
        let mut disagreeing = one(1, 2);
        disagreeing["note"] = json!("b");
        assert!(matches!(
            merge(&[one(0, 2), disagreeing]),
            Err(MergeError::Disagree { ref key, .. }) if key == "note"
        ));
        assert_eq!(merge(&[one(1, 2), one(0, 2)]).unwrap()["runs"], 2);
    }
}
