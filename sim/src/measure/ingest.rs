//! Ingest of real files, or of disk images as their guests see them
//! ([`super::image`]): cut into clusters, SHA-256 each, look up, insert
//! on a miss, count hits — the dedup trace of the seed's QCOW2 use.
//!
//! Owns the walk (directories followed, links not, unreadable entries
//! reported and skipped) and the figures: dedup, and what the index cost
//! (page reads a lookup, write amplification, device time, RAM an entry).
//! Promises: files are taken in sorted path order, so the same tree gives
//! the same figures; the index's answers are checked against an exact
//! in-memory set of seen hashes (with eviction on, a seen hash may be
//! missed, never a new one found).

use std::collections::HashSet;
use std::io::Read;
use std::path::{Path, PathBuf};

use logstore::{Geometry, Hash, Info};
use logstore::{Store, StoreConfig, StoreError};
use sha2::{Digest, Sha256};

use crate::measure::image::{Cluster as ImageCluster, Image};
use crate::nand::{Device, SimConfig, SimFlash};

/// Deepest directory nesting walked.
pub(crate) const DEPTH_MAX: usize = 64;

#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct IngestConfig {
    pub cluster_bytes: usize,
    pub geometry: Geometry,
    pub store: StoreConfig,
    /// The part simulated (its ECC and bit errors); none: an ideal device.
    pub device: Option<Device>,
    /// Blocks marked bad at manufacture.
    pub bad_blocks: Vec<u32>,
}

impl IngestConfig {
    /// 4 KiB clusters; a 64 MiB device (2 KiB pages, 64 a block, 512
    /// blocks); a 64 Ki-slot log store, 32-block journal, 24 incarnations.
    pub fn new(cluster_bytes: usize) -> Self {
        let mut store = StoreConfig::new(14, 32);
        store.incarnations_max = 24;
        IngestConfig {
            cluster_bytes,
            geometry: Geometry::new(2048, 64, 512).expect("valid geometry"),
            store,
            device: None,
            bad_blocks: Vec::new(),
        }
    }

    /// The same ingest on `device`, in its own geometry: as many blocks as
    /// make 64 MiB (at least 32), the journal as many bytes as before.
    pub fn on_device(mut self, device: Device) -> Self {
        let block_bytes = device.geometry(1).block_bytes();
        let bytes = self.geometry.device_bytes();
        let journal_bytes = u64::from(self.store.journal_blocks) * self.geometry.block_bytes();
        self.geometry = device.geometry((bytes / block_bytes).max(32) as u32);
        self.store.journal_blocks = journal_bytes.div_ceil(block_bytes).max(2) as u32;
        self.device = Some(device);
        self
    }
}

#[derive(Clone, Debug, Default, PartialEq, serde::Serialize)]
pub struct IngestReport {
    pub files: u64,
    /// Disk images read (`ingest --image`).
    pub images: u64,
    /// Clusters of the images their tables map nothing to: skipped.
    pub clusters_unallocated: u64,
    pub clusters: u64,
    pub unique: u64,
    /// clusters / unique.
    pub dedup_ratio: f64,
    /// Log store fill at the end.
    pub fill: f64,
    pub incarnations: u32,
    /// Incarnations dropped by `evict_oldest`.
    pub evictions: u64,
    pub freezes: u64,
    pub bytes: u64,
    /// Lookups (one a cluster) and the flash pages they read.
    pub lookups: u64,
    pub lookup_page_reads: u64,
    /// lookup_page_reads / lookups.
    pub reads_per_lookup: f64,
    /// Clusters seen before that the index no longer held (evicted).
    pub duplicates_missed: u64,
    /// Bytes programmed / bytes of the entries inserted (each a journal
    /// entry of its hash and info).
    pub write_amplification: f64,
    pub bytes_programmed: u64,
    pub erases: u64,
    /// The simulated device's busy time, at the part's latencies (the
    /// simulator's defaults on the ideal device).
    pub device_seconds: f64,
    /// RAM of the log store's table and of every incarnation's filter, per
    /// entry held (log store and incarnations, tombstones included).
    pub ram_bytes_per_entry: f64,
    /// Paths that could not be read, and why.
    pub skipped: Vec<(String, String)>,
    /// Why ingest stopped early (the store full), if it did.
    pub stopped: Option<String>,
}

/// Every regular file under `paths`, sorted; unreadable entries go to
/// `skipped`.
pub fn walk(paths: &[PathBuf], skipped: &mut Vec<(String, String)>) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut stack: Vec<(PathBuf, usize)> = paths.iter().map(|p| (p.clone(), 0)).collect();
    while let Some((path, depth)) = stack.pop() {
        let meta = match std::fs::symlink_metadata(&path) {
            Ok(meta) => meta,
            Err(e) => {
                skipped.push((path.display().to_string(), e.to_string()));
                continue;
            }
        };
        let kind = meta.file_type();
        if kind.is_file() {
            files.push(path);
        } else if kind.is_dir() && depth < DEPTH_MAX {
            match std::fs::read_dir(&path) {
                Ok(entries) => stack.extend(
                    entries
                        .filter_map(|e| e.ok())
                        .map(|e| (e.path(), depth + 1)),
                ),
                Err(e) => skipped.push((path.display().to_string(), e.to_string())),
            }
        } else {
            let why = if kind.is_dir() {
                format!("directory nested deeper than {DEPTH_MAX} levels")
            } else {
                format!("{}, not a regular file", special_kind(&kind))
            };
            skipped.push((path.display().to_string(), why));
        }
    }
    files.sort();
    files
}

/// What a path that is neither a regular file nor a directory is.
fn special_kind(kind: &std::fs::FileType) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if kind.is_block_device() {
            return "block device";
        }
        if kind.is_char_device() {
            return "character device";
        }
        if kind.is_fifo() {
            return "named pipe";
        }
        if kind.is_socket() {
            return "socket";
        }
    }
    if kind.is_symlink() {
        "symbolic link (links are not followed)"
    } else {
        "special file"
    }
}

/// The SHA-256 of every cluster of `path` (the last may be short).
fn cluster_hashes(path: &Path, cluster_bytes: usize) -> std::io::Result<(Vec<Hash>, u64)> {
    let mut file = std::fs::File::open(path)?;
    let mut hashes = Vec::new();
    let mut buf = vec![0u8; cluster_bytes];
    let mut bytes = 0u64;
    loop {
        let mut filled = 0;
        while filled < cluster_bytes {
            match file.read(&mut buf[filled..])? {
                0 => break,
                n => filled += n,
            }
        }
        if filled == 0 {
            return Ok((hashes, bytes));
        }
        bytes += filled as u64;
        hashes.push(Sha256::digest(&buf[..filled]).into());
        if filled < cluster_bytes {
            return Ok((hashes, bytes));
        }
    }
}

/// `geometry` with blocks enough for `store`'s incarnations, journal,
/// lanes and spare ([`logstore::BlockBudget`]), `bad` bad blocks and 5% for
/// a part's factory marks: a store of more incarnations than the device
/// holds gets a larger device, not a refusal.
pub(crate) fn fitted(
    geometry: Geometry,
    store: &StoreConfig,
    bad: usize,
) -> Result<Geometry, String> {
    let budget = store.block_budget(geometry).map_err(|e| e.to_string())?;
    let needed = u64::from(budget.needed()) + bad as u64;
    let blocks = u64::from(geometry.blocks).max(needed + needed.div_ceil(20));
    let blocks = u32::try_from(blocks).map_err(|_| format!("{blocks} blocks: too many"))?;
    let fitted = Geometry { blocks, ..geometry };
    fitted.validate().map_err(|e| e.to_string())?;
    Ok(fitted)
}

/// One ingest: the store, the exact set of hashes seen, the figures.
struct Run {
    store: Store<SimFlash>,
    seen: HashSet<Hash>,
    report: IngestReport,
    evicting: bool,
}

impl Run {
    fn new(config: &IngestConfig) -> Result<Run, String> {
        if config.cluster_bytes == 0 {
            return Err("cluster size must be at least 1 byte".into());
        }
        let geometry = fitted(config.geometry, &config.store, config.bad_blocks.len())?;
        let mut sim = match config.device {
            Some(device) => device.sim_config(geometry),
            None => SimConfig::new(geometry),
        };
        sim.factory_bad.extend(config.bad_blocks.iter().copied());
        let flash = SimFlash::new(sim, 0).map_err(|e| e.to_string())?;
        let store = Store::create(flash, config.store).map_err(|e| e.to_string())?;
        Ok(Run {
            store,
            seen: HashSet::new(),
            report: IngestReport::default(),
            evicting: config.store.evict_oldest,
        })
    }

    /// One cluster of `path` looked up and inserted on a miss; false when
    /// the store is full (the ingest stops there, said in `stopped`).
    fn cluster(&mut self, hash: Hash, path: &Path) -> Result<bool, String> {
        let report = &mut self.report;
        match ingest_cluster(
            &mut self.store,
            &mut self.seen,
            hash,
            report.clusters,
            self.evicting,
        ) {
            Ok(Cluster { missed, reads }) => {
                report.clusters += 1;
                report.lookups += 1;
                report.lookup_page_reads += reads;
                report.duplicates_missed += u64::from(missed);
                Ok(true)
            }
            Err(Miss::Store(StoreError::Full(reason))) => {
                report.stopped = Some(format!(
                    "store full after {} clusters: {reason:?}",
                    report.clusters
                ));
                Ok(false)
            }
            Err(Miss::Store(e)) => Err(format!("{}: {e}", path.display())),
            Err(Miss::Disagree(message)) => Err(format!("{}: {message}", path.display())),
        }
    }

    fn finish(mut self) -> Result<IngestReport, String> {
        self.store.flush().map_err(|e| e.to_string())?;
        finish(&mut self.report, &self.store, self.seen.len() as u64);
        Ok(self.report)
    }
}

/// Ingests every file under `paths`; `tick` gets the files done.
pub fn ingest(
    paths: &[PathBuf],
    config: &IngestConfig,
    tick: &dyn Fn(u64, u64),
) -> Result<IngestReport, String> {
    let mut run = Run::new(config)?;
    let files = walk(paths, &mut run.report.skipped);
    'files: for (index, path) in files.iter().enumerate() {
        tick(index as u64, files.len() as u64);
        let (hashes, bytes) = match cluster_hashes(path, config.cluster_bytes) {
            Ok(found) => found,
            Err(e) => {
                run.report
                    .skipped
                    .push((path.display().to_string(), e.to_string()));
                continue;
            }
        };
        run.report.files += 1;
        run.report.bytes += bytes;
        for hash in hashes {
            if !run.cluster(hash, path)? {
                break 'files;
            }
        }
    }
    run.finish()
}

/// Ingests disk images (raw or QCOW2) as their guests see them, in
/// clusters of `config.cluster_bytes` (a power of two): unallocated
/// clusters are skipped and counted in `clusters_unallocated`. `tick`
/// gets the clusters done of the image being read.
pub fn ingest_images(
    images: &[PathBuf],
    config: &IngestConfig,
    tick: &dyn Fn(u64, u64),
) -> Result<IngestReport, String> {
    let cluster_bytes = config.cluster_bytes as u64;
    if !cluster_bytes.is_power_of_two() {
        return Err(format!(
            "{cluster_bytes}-byte clusters: an image's are a power of two"
        ));
    }
    let mut run = Run::new(config)?;
    let mut buf = vec![0u8; config.cluster_bytes];
    'images: for path in images {
        let mut image = Image::open(path, cluster_bytes).map_err(|e| e.to_string())?;
        let total = image.disk_bytes().div_ceil(cluster_bytes);
        run.report.images += 1;
        let mut done = 0;
        // Each cluster read advances the image by at least one cluster.
        while let Some(cluster) = image.next_cluster(&mut buf).map_err(|e| e.to_string())? {
            match cluster {
                ImageCluster::Unallocated(count) => {
                    run.report.clusters_unallocated += count;
                    done += count;
                }
                ImageCluster::Data(len) => {
                    run.report.bytes += len as u64;
                    done += 1;
                    if !run.cluster(Sha256::digest(&buf[..len]).into(), path)? {
                        break 'images;
                    }
                }
            }
            if done % 1024 == 0 || done == total {
                tick(done, total);
            }
        }
    }
    run.finish()
}

/// The figures the store and device tell at the end.
fn finish(report: &mut IngestReport, store: &Store<SimFlash>, unique: u64) {
    let stats = store.stats();
    let counters = store.flash().counters();
    let inserted = unique + report.duplicates_missed;
    report.unique = unique;
    report.dedup_ratio = report.clusters as f64 / unique.max(1) as f64;
    report.fill = stats.fill;
    report.incarnations = stats.incarnations;
    report.evictions = stats.evictions;
    report.freezes = stats.freezes;
    report.reads_per_lookup = report.lookup_page_reads as f64 / report.lookups.max(1) as f64;
    report.bytes_programmed = counters.bytes_programmed;
    report.erases = counters.erases;
    report.write_amplification = counters.bytes_programmed as f64
        / (inserted * crate::measure::wear::INSERT_ENTRY_BYTES).max(1) as f64;
    report.device_seconds = counters.device_time_ns as f64 / 1e9;
    let entries = stats.log_entries + stats.incarnation_entries;
    report.ram_bytes_per_entry =
        (stats.ram_bytes + stats.filter_ram_bytes) as f64 / entries.max(1) as f64;
}

enum Miss {
    Store(StoreError),
    /// The index and the exact set of hashes disagree: a bug.
    Disagree(String),
}

/// What one cluster cost.
struct Cluster {
    /// A seen cluster the index no longer held (evicted).
    missed: bool,
    /// Pages its lookup read (the insert's own flash work not counted).
    reads: u64,
}

/// Looks a cluster up and inserts it on a miss; the index must agree with
/// the exact set of hashes seen, except that with `evicting` a seen hash
/// may be gone (then it is inserted again, and `missed` says so).
fn ingest_cluster(
    store: &mut Store<SimFlash>,
    seen: &mut HashSet<Hash>,
    hash: Hash,
    cluster: u64,
    evicting: bool,
) -> Result<Cluster, Miss> {
    let reads_before = store.flash().counters().reads;
    let hit = store.get(&hash).map_err(Miss::Store)?.is_some();
    let reads = store.flash().counters().reads - reads_before;
    let was_seen = seen.contains(&hash);
    let missed = was_seen && !hit && evicting;
    if hit != was_seen && !missed {
        return Err(Miss::Disagree(format!(
            "the index answered hit={hit} for cluster {cluster}, the exact set of hashes disagrees"
        )));
    }
    if !hit {
        let info = Info {
            physical_sector: seen.len() as u64,
            first_logical_sector: cluster,
        };
        store.insert(hash, info).map_err(Miss::Store)?;
        seen.insert(hash);
    }
    Ok(Cluster { missed, reads })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duplicate_files_dedup_and_unreadable_paths_are_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let data: Vec<u8> = (0..40_000u32).map(|i| (i * 7 % 251) as u8).collect();
        std::fs::write(dir.path().join("a.bin"), &data).unwrap();
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        std::fs::write(dir.path().join("sub/b.bin"), &data).unwrap();
        std::fs::write(dir.path().join("sub/empty"), b"").unwrap();
        let missing = dir.path().join("missing");
        let mut config = IngestConfig::new(4096);
        config.store = StoreConfig::new(6, 4);
        let report = ingest(&[dir.path().to_path_buf(), missing], &config, &|_, _| {}).unwrap();
        assert_eq!(report.files, 3);
        assert_eq!(report.clusters, 2 * 10);
        assert_eq!(report.unique, 10);
        assert_eq!(report.dedup_ratio, 2.0);
        assert_eq!(report.skipped.len(), 1);
        assert!(report.stopped.is_none());
        assert_eq!(report.lookups, 20);
        // Nothing frozen, the full layout: no lookup reads flash.
        assert_eq!(report.lookup_page_reads, 0);
        assert!(report.write_amplification > 1.0);
    }

    /// A small store on a tree that outgrows it: it freezes and evicts,
    /// and says what it cost; evicted duplicates are missed, never wrong.
    #[test]
    fn a_small_store_freezes_and_evicts_and_tells_the_cost() {
        let dir = tempfile::tempdir().unwrap();
        for file in 0..6u32 {
            let data: Vec<u8> = (0..400_000u32)
                .map(|i| (i.wrapping_mul(2_654_435_761) >> (file % 3 + 5)) as u8 ^ (i / 4096) as u8)
                .collect();
            std::fs::write(dir.path().join(format!("{file}.bin")), &data).unwrap();
        }
        let mut config = IngestConfig::new(512);
        config.store = StoreConfig::new(6, 4);
        config.store.incarnations_max = 3;
        config.store.evict_oldest = true;
        let report = ingest(&[dir.path().to_path_buf()], &config, &|_, _| {}).unwrap();
        assert!(report.stopped.is_none(), "{:?}", report.stopped);
        assert!(report.freezes > 3 && report.evictions > 0, "{report:?}");
        assert!(report.incarnations <= 3);
        assert_eq!(report.lookups, report.clusters);
        // Files 0 and 3 are the same: by file 3 its clusters were evicted.
        assert!(report.duplicates_missed > 0, "{report:?}");
        // A lookup reads an incarnation's page only on a hit or a filter's
        // false answer.
        assert!(report.reads_per_lookup < 0.5, "{report:?}");
        assert!(report.write_amplification > 1.0 && report.ram_bytes_per_entry > 0.0);
    }
}
