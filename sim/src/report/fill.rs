//! The report's fill section: fill at the first failed insert by
//! policy and kick bound, by bucket size, and by order, against theory.

use std::fmt::Write as _;
use std::path::Path;

use indicatif::ProgressBar;
use logstore::Policy;
use serde_json::{json, Value};

use super::plot::{line_chart, LineChart, Series};
use crate::measure::fill::{fill_limit, fill_stats};

use super::{Section, Sizes};

pub(super) fn walk(max_kicks: u32) -> Policy {
    Policy::RandomWalk {
        max_kicks,
        retries: 10,
    }
}

pub(super) fn fill_series(
    sizes: &Sizes,
    bucket: usize,
    label: &str,
    bounds: &[u32],
    policy: fn(u32) -> Policy,
) -> Result<Series, String> {
    let points = bounds
        .iter()
        .map(|&bound| {
            let stats = fill_stats(sizes.fill_order, bucket, policy(bound), sizes.fill_seeds)?;
            Ok((f64::from(bound), stats.mean))
        })
        .collect::<Result<Vec<_>, String>>()?;
    Ok(Series {
        label: label.to_string(),
        points,
        reference: false,
    })
}

pub(super) fn flat(label: &str, y: f64, x0: f64, x1: f64) -> Series {
    Series {
        label: label.to_string(),
        points: vec![(x0, y), (x1, y)],
        reference: true,
    }
}

pub(super) fn fill_section(sizes: &Sizes, out: &Path, _: &ProgressBar) -> Result<Section, String> {
    let mut md = String::from("## Fill at the first failed insert\n\n");
    let _ = writeln!(
        md,
        "Uniform random hashes inserted into an empty table of 2^{} buckets until the first insert fails; mean over {} seeds. \
         The bound is the most kicks of a random walk or a fixed victim, and the most displacements (path depth) of BFS. \
         Dashed: the theoretical 2-choice load threshold for the bucket size (no figure may exceed it), and the seed's claimed 93%.\n",
        sizes.fill_order, sizes.fill_seeds
    );
    md.push_str("| B | policy | bound | mean fill |\n|---:|---|---:|---:|\n");
    let mut figures = serde_json::Map::new();
    let x_max = f64::from(*sizes.kicks.last().unwrap_or(&1));
    for bucket in [2usize, 4, 8] {
        let limit = fill_limit(bucket).expect("2, 4 or 8");
        let series = vec![
            fill_series(sizes, bucket, "random walk", &sizes.kicks, walk)?,
            fill_series(sizes, bucket, "BFS (depth)", &sizes.depths, |d| {
                Policy::Bfs { max_depth: d }
            })?,
            fill_series(sizes, bucket, "fixed victim", &sizes.kicks, |k| {
                Policy::FixedVictim { max_kicks: k }
            })?,
            flat(&format!("limit {limit}"), limit, 1.0, x_max),
            flat("seed's 93%", 0.93, 1.0, x_max),
        ];
        fill_rows(bucket, &series, &mut md, &mut figures);
        let file = format!("fill_b{bucket}.svg");
        line_chart(
            &out.join(&file),
            &LineChart {
                title: &format!(
                    "Fill at first failure, B = {bucket}, order {}",
                    sizes.fill_order
                ),
                x_label: "bound (kicks; BFS: depth)",
                y_label: "fill",
                x_log: true,
                y_range: (0.3, 1.0),
                series,
            },
        )?;
        let _ = writeln!(md, "\n![fill B={bucket}]({file})\n");
    }
    md.push_str(&fill_by_order(sizes, out, &mut figures)?);
    let _ = writeln!(
        md,
        "\nOne point alone: `cargo run --release -- fill --bucket 4 --order {} --policy random-walk --max-kicks 128 --seeds {}`.\n",
        sizes.fill_order, sizes.fill_seeds
    );
    let default_fill = figures
        .get(&format!("b4_order{}_BFS", sizes.fill_order))
        .or_else(|| figures.get("b4_BFS_(depth)_6"))
        .and_then(Value::as_f64)
        .unwrap_or(0.0);
    let headline = format!(
        "B = 4, default policy (BFS depth 6): {default_fill:.4} full at the first failed insert (limit 0.980)"
    );
    Ok(Section {
        markdown: md,
        figures: Value::Object(figures),
        headline,
    })
}

pub(super) fn fill_by_order(
    sizes: &Sizes,
    out: &Path,
    figures: &mut serde_json::Map<String, Value>,
) -> Result<String, String> {
    let mut series = Vec::new();
    for (label, policy) in [
        ("BFS depth 6 (default)", Policy::default()),
        ("random walk 128", walk(128)),
    ] {
        let points = sizes
            .orders
            .iter()
            .map(|&order| {
                Ok((
                    f64::from(order),
                    fill_stats(order, 4, policy, sizes.fill_seeds)?.mean,
                ))
            })
            .collect::<Result<Vec<_>, String>>()?;
        for &(order, fill) in &points {
            figures.insert(
                format!("b4_order{order}_{}", label.split(' ').next().unwrap_or("")),
                json!(fill),
            );
        }
        series.push(Series {
            label: label.to_string(),
            points,
            reference: false,
        });
    }
    let (lo, hi) = (
        f64::from(sizes.orders[0]),
        f64::from(*sizes.orders.last().unwrap_or(&1)),
    );
    series.push(flat("limit 0.980", 0.98, lo, hi));
    line_chart(
        &out.join("fill_order.svg"),
        &LineChart {
            title: "Fill at first failure against table order, B = 4",
            x_label: "order (2^order buckets)",
            y_label: "fill",
            x_log: false,
            y_range: (0.85, 1.0),
            series,
        },
    )?;
    Ok("Fill against table size, B = 4: small tables fill further by chance; large ones settle below the limit.\n\n![fill by order](fill_order.svg)\n".to_string())
}

/// A row a measured point of `series` (the reference lines left out).
fn fill_rows(
    bucket: usize,
    series: &[Series],
    md: &mut String,
    figures: &mut serde_json::Map<String, Value>,
) {
    for line in series.iter().filter(|s| !s.reference) {
        for &(bound, fill) in &line.points {
            let _ = writeln!(*md, "| {bucket} | {} | {bound} | {fill:.4} |", line.label);
            figures.insert(
                format!("b{bucket}_{}_{bound}", line.label.replace(' ', "_")),
                json!(fill),
            );
        }
    }
}
