//! The report's speed section: store and table timings, between the
//! `timings` markers (the only figures that are not deterministic).

use std::fmt::Write as _;
use std::path::Path;

use indicatif::ProgressBar;
use serde_json::{json, Value};

use crate::measure::campaign_speed::{self, CampaignRate};
use crate::measure::speed;

use super::{Section, Sizes};

pub(super) fn speed_section(sizes: &Sizes, _: &Path, _: &ProgressBar) -> Result<Section, String> {
    let timings = speed::measure(sizes.speed_keys)?;
    let mut md = String::from("## Speed\n\n<!-- timings:begin -->\n");
    let _ = writeln!(
        md,
        "Machine-dependent: measured on {} ({} cores) in this run; the rest of the report does not depend on the machine. \
         Criterion benchmarks give steadier figures: `cargo bench -p logstore --bench cuckoo` (tables against hashbrown), \
         `cargo bench -p logstore-sim --bench store` (store inserts and open), `cargo bench -p logstore-sim --bench nand` (the simulator).\n",
        speed::cpu_name(),
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    md.push_str("| what | figure | unit |\n|---|---:|---|\n");
    let mut figures = serde_json::Map::new();
    for figure in &timings {
        let _ = writeln!(
            md,
            "| {} | {} | {} |",
            figure.label,
            speed::format_rate(&json!(figure.value)),
            figure.unit
        );
        figures.insert(figure.key.clone(), json!(figure.value));
    }
    if sizes.campaign_rates {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let rates = campaign_speed::campaign_rates(&root)?;
        md.push_str(&rates_markdown(&rates));
        figures.insert("campaign_rates".into(), json!(rates));
    }
    md.push_str("<!-- timings:end -->\n");
    let headline = headline_of(&timings);
    Ok(Section {
        markdown: md,
        figures: Value::Object(figures),
        headline,
    })
}

/// The campaigns issue 24 timed, one core each: now, then, and the goal.
fn rates_markdown(rates: &[CampaignRate]) -> String {
    let mut md = String::from(
        "\n**Campaigns on one core**, timed in this run beside what issue 24 measured at `fede5b8` (one run each, this machine's kind) and the rate it asks for. \
         The exhaustive campaigns also check every crash point: a failure here fails the report.\n\n\
         | campaign | unit | now | issue 24 | target | now / target |\n|---|---|---:|---:|---:|---:|\n",
    );
    for rate in rates {
        // A command in code; a description (it quotes its own code) as is.
        let campaign = if rate.command.contains('`') {
            rate.command.to_string()
        } else {
            format!("`{}`", rate.command)
        };
        let _ = writeln!(
            md,
            "| {campaign} | {} | {} | {} | {} | {:.2} |",
            rate.unit,
            speed::format_rate(&json!(rate.now)),
            rate.issue_24,
            speed::format_rate(&json!(rate.target)),
            rate.now / rate.target
        );
    }
    md
}

/// The speed section's one line: store inserts and lookups a second.
pub(super) fn headline_of(timings: &[speed::Figure]) -> String {
    let find = |key: &str| {
        timings
            .iter()
            .find(|f| f.key == key)
            .map_or(0.0, |f| f.value)
    };
    let ns = |who: &str, what: &str, pct: u32| find(&format!("{who}_{what}_ns_at_{pct}pct"));
    format!(
        "store (full layout): {} inserts/s, {} lookups/s; table miss {:.1}/{:.1} ns, hit {:.1}/{:.1} ns at 50%/90% (hashbrown {:.1}/{:.1}, {:.1}/{:.1}) (machine-dependent)",
        speed::format_rate(&json!(find("store_full_inserts_per_s"))),
        speed::format_rate(&json!(find("store_full_lookups_per_s"))),
        ns("cuckoo", "miss", 50),
        ns("cuckoo", "miss", 90),
        ns("cuckoo", "hit", 50),
        ns("cuckoo", "hit", 90),
        ns("hashbrown", "miss", 50),
        ns("hashbrown", "miss", 90),
        ns("hashbrown", "hit", 50),
        ns("hashbrown", "hit", 90),
    )
}
