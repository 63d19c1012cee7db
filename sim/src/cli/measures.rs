//! The commands that measure: `fill`, `wear` (with `--swarm`), `lookups`
//! and `ingest`. Each is one `Args` struct (its flags, their help and
//! bounds) and the function that runs it.

use std::path::PathBuf;

use logstore::Policy;
use logstore_sim::campaign::progress_bar;
use logstore_sim::measure::fill::fill_stats;
use logstore_sim::measure::ingest::{ingest as ingest_paths, ingest_images, IngestConfig};
use logstore_sim::measure::lookups::{incarnation_lookups, LookupsConfig};
use logstore_sim::measure::wear::{wear as wear_run, WearConfig};
use logstore_sim::Device;
use serde_json::json;

use super::args::{
    emit, no_part_with_swarm, parse_seeds, IngestStoreArgs, Output, PairingArgs, PartArgs,
    PolicyArg, WearOutArg, SEEDS_MAX,
};

/// Largest table `fill` builds: 2^24 buckets of 8 full slots take 7.5 GiB.
const FILL_ORDER_MAX: u32 = 24;

/// Largest log store `ingest` builds: 2^20 buckets of 4 slots, 160 MiB.
const INGEST_ORDER_MAX: u32 = 20;

/// Largest cluster `ingest` reads at once.
const CLUSTER_BYTES_MAX: usize = 16 << 20;
/// An image's clusters: QCOW2's sizes.
const IMAGE_CLUSTER_BYTES: std::ops::RangeInclusive<usize> = 512..=(2 << 20);

/// Most incarnations `lookups` builds.
const LOOKUPS_INCARNATIONS_MAX: u32 = 64;

/// Fill of a cuckoo table at the first failed insert of random hashes.
///
/// Example: `logstore-sim fill --bucket 4 --order 16 --policy bfs --max-kicks 6 --seeds 10`
#[derive(clap::Args, Debug)]
pub(crate) struct FillArgs {
    /// Slots per bucket: 2, 4 or 8.
    #[arg(long, default_value_t = 4)]
    bucket: usize,
    /// 2^order buckets.
    #[arg(long, default_value_t = 14)]
    order: u32,
    #[arg(long, value_enum, default_value_t = PolicyArg::RandomWalk)]
    policy: PolicyArg,
    /// Kick bound of the random walk and fixed victim; depth of BFS.
    #[arg(long, default_value_t = 128)]
    max_kicks: u32,
    /// Tables filled, one per seed 0..N (at most ten million).
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=SEEDS_MAX))]
    seeds: u64,
    #[command(flatten)]
    output: Output,
}

pub(crate) fn fill(args: FillArgs) -> Result<bool, String> {
    let FillArgs {
        bucket,
        order,
        policy,
        max_kicks,
        seeds,
        output,
    } = args;
    if order > FILL_ORDER_MAX {
        return Err(format!(
            "--order {order} is above {FILL_ORDER_MAX}: a table of 2^{order} buckets does not fit in memory here"
        ));
    }
    let policy = match policy {
        PolicyArg::RandomWalk => Policy::RandomWalk {
            max_kicks,
            retries: 10,
        },
        PolicyArg::Bfs => Policy::Bfs {
            max_depth: max_kicks,
        },
        PolicyArg::Fixed => Policy::FixedVictim { max_kicks },
    };
    let stats = fill_stats(order, bucket, policy, seeds)?;
    let figures = json!({
        "bucket": bucket, "order": order, "policy": format!("{policy:?}"), "seeds": seeds,
        "mean": stats.mean, "min": stats.min, "max": stats.max,
        "theoretical_limit": logstore_sim::measure::fill::fill_limit(bucket),
    });
    emit(output.json, &figures)?;
    Ok(true)
}

/// Wear: a long ingest on a device of limited endurance; erase counts,
/// write amplification, worn blocks, simulated device time.
#[derive(clap::Args, Debug)]
pub(crate) struct WearArgs {
    /// Inserts of new hashes.
    #[arg(long, default_value_t = 200_000)]
    ops: u64,
    /// Go on until the store goes read-only (the device worn out), then
    /// audit: `endurance_used`, `lost_flushed`, `bad_blocks_retired`.
    #[arg(long)]
    until_end_of_life: bool,
    /// P/E cycles a block endures. Default: the part's with --device,
    /// else 3,000.
    #[arg(long)]
    endurance: Option<u32>,
    #[command(flatten)]
    part: PartArgs,
    /// What a block past its endurance does.
    #[arg(long, value_enum, default_value = "erase-fails")]
    wear_out: WearOutArg,
    /// Flush after this many inserts.
    #[arg(long, default_value_t = 16)]
    flush_every: u32,
    /// Seed of the device and the infos stored.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Each seed of `--seeds` draws its own device, geometry, bad
    /// blocks, store, endurance (20-200 cycles) and flush cadence, and
    /// runs; with `--until-end-of-life` any end of life below 0.9 of
    /// endurance over usable blocks fails (unless too few blocks are
    /// usable, said in the JSON). The part options are then not taken.
    ///
    /// Example: `logstore-sim wear --swarm --until-end-of-life --seeds 0..50 --json`
    #[arg(long, requires = "seeds")]
    swarm: bool,
    /// Seeds of a swarm, as A..B (B excluded).
    #[arg(long, value_parser = parse_seeds, requires = "swarm")]
    seeds: Option<std::ops::Range<u64>>,
    #[command(flatten)]
    output: Output,
}

pub(crate) fn wear(args: WearArgs) -> Result<bool, String> {
    if let Some(seeds) = args.seeds.clone() {
        no_part_with_swarm(&args.part, &PairingArgs::default())?;
        if args.endurance.is_some() {
            return Err(
                "--swarm draws each seed's endurance: --endurance is not taken with it".into(),
            );
        }
        return wear_swarm(seeds, args.ops, args.until_end_of_life, args.output.json);
    }
    let json = args.output.json;
    let endurance = args
        .endurance
        .or(args.part.device.map(|d| d.part().endurance_cycles))
        .unwrap_or(3_000);
    if endurance == 0 {
        return Err("--endurance 0: a block endures at least one P/E cycle".into());
    }
    let mut config = WearConfig::new(args.ops, endurance, args.flush_every);
    if let Some(device) = args.part.device {
        config = config.on_device(device);
    }
    config.seed = args.seed;
    config.wear_out = args.wear_out.wear_out();
    config.until_end_of_life = args.until_end_of_life;
    config.bad_blocks = args.part.bad_blocks;
    let bar = if config.until_end_of_life {
        progress_bar(1_000, "endurance ‰")
    } else {
        progress_bar(args.ops, "wear")
    };
    let report = wear_run(&config, &|done| bar.set_position(done))?;
    bar.finish_and_clear();
    let figures = json!({
        "ops": report.ops_done, "erase_max": report.erase_max, "erase_mean": report.erase_mean,
        "erase_min": report.erase_min, "write_amplification": report.write_amplification,
        "bad_blocks": report.bad_blocks, "device_seconds": report.device_seconds,
        "erases": report.erases, "bytes_programmed": report.bytes_programmed,
        "reopens": report.reopens, "bits_corrected": report.bits_corrected,
        "pages_uncorrectable": report.pages_uncorrectable, "scrubs": report.scrubs,
        "lost_flushed": report.lost_flushed, "stale": report.stale,
        "resurrected": report.resurrected, "audit_failed": report.audit_failed,
        "stopped": report.stopped, "broken": report.broken,
        "read_only_at": report.read_only_at, "endurance_used": report.endurance_used,
        "bad_blocks_retired": report.bad_blocks_retired,
        "erases_per_reopen_max": report.erases_per_reopen_max,
        "erase_count_drift_max": report.erase_count_drift_max,
        "usable_blocks": report.usable_blocks, "usable_erase_min": report.usable_erase_min,
        "usable_erase_max": report.usable_erase_max,
        "usable_erase_stddev": report.usable_erase_stddev,
    });
    emit(json, &figures)?;
    Ok(report.audit_failed.is_none() && report.broken.is_none())
}

fn wear_swarm(
    seeds: std::ops::Range<u64>,
    ops: u64,
    until_end_of_life: bool,
    json: bool,
) -> Result<bool, String> {
    let chosen: Vec<u64> = seeds.collect();
    if chosen.is_empty() {
        return Err("--seeds: an empty range".into());
    }
    let bar = progress_bar(chosen.len() as u64, "wear swarm");
    let summary = logstore_sim::measure::wear_swarm::swarm_wear_campaign(
        &chosen,
        ops,
        until_end_of_life,
        &|| bar.inc(1),
    );
    bar.finish_and_clear();
    let figures = serde_json::to_value(&summary).map_err(|e| e.to_string())?;
    emit(json, &figures)?;
    if !json {
        for run in summary.runs_detail.iter().filter(|r| r.failure.is_some()) {
            eprintln!(
                "seed {} failed: {}\n  replay: logstore-sim wear --swarm --seeds {}..{}{} --ops {ops}",
                run.seed,
                run.failure.as_deref().unwrap_or(""),
                run.seed,
                run.seed + 1,
                if until_end_of_life { " --until-end-of-life" } else { "" },
            );
        }
    }
    Ok(summary.failures == 0)
}

/// Lookups across frozen incarnations: page reads a hit and a miss,
/// RAM an entry, speed, with each incarnation's filter and without.
///
/// Builds one store on the part, freezing until it holds N
/// incarnations, then probes hits (uniform over the frozen keys) and
/// misses, every answer checked. About 45 seconds and 70 MB at 32
/// incarnations of order 12 (the default).
///
/// Example: `logstore-sim lookups --incarnations 32 --device mlc --json`
#[derive(clap::Args, Debug)]
pub(crate) struct LookupsArgs {
    /// Incarnations frozen before probing.
    #[arg(long, default_value_t = 32)]
    incarnations: u32,
    /// The part (geometry, ECC, bit errors, read latency).
    #[arg(long, value_enum, default_value_t = Device::Mlc)]
    device: Device,
    /// The log store's order: 2^order buckets of 4 slots, each
    /// incarnation one such table frozen (4 to 20). The filters take
    /// two bytes a slot at any order; larger orders take longer.
    #[arg(long, default_value_t = 12)]
    order: u32,
    /// Lookups probed, half hits, half misses.
    #[arg(long, default_value_t = 40_000)]
    probes: u64,
    /// Seed of the device and the probes.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    #[command(flatten)]
    output: Output,
}

pub(crate) fn lookups(args: LookupsArgs) -> Result<bool, String> {
    let (incarnations, json) = (args.incarnations, args.output.json);
    let config = &LookupsConfig {
        device: args.device,
        order: args.order,
        probes: args.probes,
        seed: args.seed,
    };
    if incarnations > LOOKUPS_INCARNATIONS_MAX {
        return Err(format!(
            "--incarnations {incarnations}: at most {LOOKUPS_INCARNATIONS_MAX}"
        ));
    }
    if !(4..=20).contains(&config.order) {
        return Err(format!("--order {}: 4 to 20", config.order));
    }
    if config.probes < 2 || config.probes > 100_000_000 {
        return Err(format!("--probes {}: 2 to 100,000,000", config.probes));
    }
    let bar = progress_bar(u64::from(incarnations), "incarnations");
    let points = incarnation_lookups(config, &[incarnations], &|done| {
        bar.set_position(u64::from(done))
    })?;
    bar.finish_and_clear();
    let [on, off] = &points[0];
    let figures = json!({
        "device": config.device.name(), "order": config.order,
        "incarnations": on.incarnations, "frozen_entries": on.frozen_entries,
        "log_entries": on.log_entries, "probes": on.probes,
        "reads_per_miss": on.reads_per_miss, "reads_per_hit": on.reads_per_hit,
        "reads_per_hit_worst": on.reads_per_hit_worst,
        "ram_bytes_per_entry": on.ram_bytes_per_entry,
        "ram_bytes_per_frozen_entry": on.ram_bytes_per_frozen_entry,
        "lookups_per_s": on.lookups_per_s, "device_us_per_lookup": on.device_us_per_lookup,
        "unfiltered_reads_per_miss": off.reads_per_miss,
        "unfiltered_reads_per_hit": off.reads_per_hit,
        "unfiltered_lookups_per_s": off.lookups_per_s,
        "unfiltered_device_us_per_lookup": off.device_us_per_lookup,
    });
    emit(json, &figures)?;
    Ok(true)
}

/// Ingest real files, or disk images as their guests see them: clusters
/// hashed with SHA-256, looked up, inserted on a miss. Directories are
/// walked; unreadable paths are reported.
///
/// With --image FILE (raw or QCOW2, told by its magic) the guest's disk
/// is read in clusters of --cluster-bytes (a power of two, 512 B to
/// 2 MiB; QCOW2's default is 64 KiB): QCOW2 clusters its tables map
/// nothing to are skipped and counted (`clusters_unallocated`); a raw
/// image is every one of its clusters. Compressed clusters, backing
/// files and encryption are refused, named.
///
/// Example: `logstore-sim ingest --image disk.qcow2 --cluster-bytes 65536 --json`
#[derive(clap::Args, Debug)]
pub(crate) struct IngestArgs {
    /// Files and directories to ingest (directories are walked, links not followed).
    #[arg(required_unless_present = "image", conflicts_with = "image")]
    paths: Vec<PathBuf>,
    /// Disk images to ingest as their guests see them (repeat for more).
    #[arg(long)]
    image: Vec<PathBuf>,
    /// Bytes a cluster; the last cluster of a file may be shorter.
    #[arg(long, default_value_t = 4096)]
    cluster_bytes: usize,
    #[command(flatten)]
    store: IngestStoreArgs,
    #[command(flatten)]
    part: PartArgs,
    #[command(flatten)]
    output: Output,
}

pub(crate) fn ingest(args: IngestArgs) -> Result<bool, String> {
    let IngestArgs {
        paths,
        image,
        cluster_bytes,
        store,
        part,
        output,
    } = args;
    let (paths, json) = (&paths[..], output.json);
    if !(1..=CLUSTER_BYTES_MAX).contains(&cluster_bytes) {
        return Err(format!(
            "--cluster-bytes {cluster_bytes}: a cluster is 1 to {CLUSTER_BYTES_MAX} bytes"
        ));
    }
    if !(2..=INGEST_ORDER_MAX).contains(&store.order) {
        return Err(format!(
            "--order {}: the log store's order is 2 to {INGEST_ORDER_MAX}",
            store.order
        ));
    }
    if store.incarnations_max == 0 {
        return Err("--incarnations-max must be at least 1".into());
    }
    let mut config = IngestConfig::new(cluster_bytes);
    config.store.order = store.order;
    config.store.incarnations_max = store.incarnations_max;
    config.store.evict_oldest = store.evict_oldest;
    if let Some(device) = part.device {
        config = config.on_device(device);
    }
    config.bad_blocks = part.bad_blocks;
    let images = !image.is_empty();
    if images && !(IMAGE_CLUSTER_BYTES.contains(&cluster_bytes) && cluster_bytes.is_power_of_two())
    {
        return Err(format!(
            "--cluster-bytes {cluster_bytes}: an image's cluster is a power of two from 512 B to 2 MiB"
        ));
    }
    let bar = progress_bar(0, "ingest");
    let tick = |done, total| {
        bar.set_length(total);
        bar.set_position(done);
    };
    let report = if images {
        ingest_images(&image, &config, &tick)?
    } else {
        ingest_paths(paths, &config, &tick)?
    };
    bar.finish_and_clear();
    if report.files > 0 || images {
        for (path, why) in &report.skipped {
            eprintln!("warning: skipped {path}: {why}");
        }
    } else {
        let named: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
        return Err(format!(
            "nothing was read from {}: no readable regular file{}",
            named.join(", "),
            report
                .skipped
                .first()
                .map_or(String::new(), |(path, why)| format!(" ({path}: {why})"))
        ));
    }
    let figures = json!({
        "files": report.files, "images": report.images,
        "clusters_unallocated": report.clusters_unallocated,
        "clusters": report.clusters, "unique": report.unique,
        "dedup_ratio": report.dedup_ratio, "fill": report.fill, "incarnations": report.incarnations,
        "freezes": report.freezes, "evictions": report.evictions,
        "duplicates_missed": report.duplicates_missed, "bytes": report.bytes,
        "lookups": report.lookups, "reads_per_lookup": report.reads_per_lookup,
        "write_amplification": report.write_amplification,
        "bytes_programmed": report.bytes_programmed, "erases": report.erases,
        "device_seconds": report.device_seconds,
        "ram_bytes_per_entry": report.ram_bytes_per_entry,
        "skipped": report.skipped.len(), "stopped": report.stopped,
    });
    emit(json, &figures)?;
    Ok(true)
}
