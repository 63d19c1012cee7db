//! Disk images as the guest sees them, a cluster at a time: raw images,
//! and QCOW2 (versions 2 and 3) through their two-level cluster tables.
//!
//! Owns the reading of an image's header and tables, and these promises:
//! - a raw image is every one of its clusters (it keeps no map of what the
//!   guest wrote); a QCOW2 image's cluster is *unallocated* when no byte of
//!   it maps to data (an empty L1 or L2 entry, or v3's all-zeros flag), and
//!   is then skipped and counted, not read;
//! - anything this reader does not read exactly (compressed clusters, a
//!   backing file, encryption, an external data file, extended L2
//!   entries, a table or cluster past the end of the file, an absurd size)
//!   is a typed [`ImageError`] naming it, never a panic and never a
//!   cluster read wrong.
//!
//! Why not a crate: `qcow2-core` reads the guest's bytes but not which
//! clusters are allocated; `qcow` pulls C codecs (zstd, zlib-ng) to read
//! compressed clusters this use does not need. The part needed is the
//! header and the L1/L2 walk of QEMU's `docs/interop/qcow2.txt`; the tests
//! hold it against `qemu-img`'s own map of the same images.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

/// QCOW2's magic: "QFI\xfb".
const QCOW_MAGIC: u32 = 0x5146_49fb;
/// Cluster sizes QEMU writes: 512 B to 2 MiB.
const CLUSTER_BITS: std::ops::RangeInclusive<u32> = 9..=21;
/// The largest L1 table QEMU writes (32 MiB).
const L1_BYTES_MAX: u64 = 32 << 20;
/// Bits 9 to 55 of an L1 or L2 entry: a host offset.
const OFFSET_MASK: u64 = 0x00ff_ffff_ffff_fe00;
/// L2 entry: a compressed cluster.
const COMPRESSED: u64 = 1 << 62;
/// L2 entry (v3): the cluster reads as zeros.
const ALL_ZEROS: u64 = 1;
/// v3 incompatible features this reader takes: dirty (refcounts may be
/// stale; the tables it reads are not). Anything else is refused.
const INCOMPATIBLE_KNOWN: [(u64, &str); 5] = [
    (1 << 0, "dirty"),
    (1 << 1, "corrupt"),
    (1 << 2, "an external data file"),
    (1 << 3, "a compression type"),
    (1 << 4, "extended L2 entries"),
];

/// Why an image could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: a QCOW2 image this reader does not take: {what}")]
    Unsupported { path: PathBuf, what: String },
    #[error("{path}: not a well-formed QCOW2 image: {what}")]
    Malformed { path: PathBuf, what: String },
}

/// What one cluster of the guest's disk is.
#[derive(Debug, PartialEq, Eq)]
pub enum Cluster {
    /// Its bytes (the last cluster of a disk may be short).
    Data(usize),
    /// This many clusters the image maps nothing to: skipped, not read
    /// (a run of them at once where a whole L2 table is absent).
    Unallocated(u64),
}

/// The bytes an image is read from: a file, or memory (the fuzz target).
pub trait Source: Read + Seek {}
impl<T: Read + Seek> Source for T {}

/// An image opened for reading in clusters of `cluster_bytes`.
pub struct Image<R: Source = File> {
    path: PathBuf,
    file: R,
    format: Format,
    disk_bytes: u64,
    cluster_bytes: u64,
    /// The guest offset of the next cluster.
    at: u64,
}

enum Format {
    Raw,
    Qcow2(Tables),
}

/// A QCOW2 image's L1 table and the last L2 table read.
struct Tables {
    cluster_bits: u32,
    version: u32,
    l1: Vec<u64>,
    file_bytes: u64,
    /// (L1 index, its L2 table) of the last L2 table read.
    l2: Option<(usize, Vec<u64>)>,
}

impl Image<File> {
    /// Opens `path` (QCOW2 when it starts with QCOW2's magic, raw
    /// otherwise) to be read in clusters of `cluster_bytes` (> 0).
    pub fn open(path: &Path, cluster_bytes: u64) -> Result<Image<File>, ImageError> {
        let io = |source| ImageError::Io {
            path: path.to_path_buf(),
            source,
        };
        let file = File::open(path).map_err(io)?;
        let file_bytes = file.metadata().map_err(io)?.len();
        Image::from_source(file, file_bytes, path, cluster_bytes)
    }
}

impl<R: Source> Image<R> {
    /// As [`Image::open`], from `file_bytes` bytes of `file`, named `path`
    /// in errors.
    pub fn from_source(
        mut file: R,
        file_bytes: u64,
        path: &Path,
        cluster_bytes: u64,
    ) -> Result<Image<R>, ImageError> {
        assert!(cluster_bytes > 0, "a cluster holds bytes");
        let mut magic = [0u8; 4];
        let is_qcow = file_bytes >= 4 && {
            read_at(&mut file, path, 0, &mut magic)?;
            u32::from_be_bytes(magic) == QCOW_MAGIC
        };
        let (format, disk_bytes) = if is_qcow {
            let (tables, disk_bytes) = Tables::read(path, &mut file, file_bytes)?;
            (Format::Qcow2(tables), disk_bytes)
        } else {
            (Format::Raw, file_bytes)
        };
        Ok(Image {
            path: path.to_path_buf(),
            file,
            format,
            disk_bytes,
            cluster_bytes,
            at: 0,
        })
    }

    /// "qcow2" or "raw".
    pub fn format(&self) -> &'static str {
        match self.format {
            Format::Raw => "raw",
            Format::Qcow2(_) => "qcow2",
        }
    }

    /// The guest's disk size in bytes.
    pub fn disk_bytes(&self) -> u64 {
        self.disk_bytes
    }

    /// The next cluster into `buf` (at least `cluster_bytes` long), or
    /// `None` past the disk's end.
    pub fn next_cluster(&mut self, buf: &mut [u8]) -> Result<Option<Cluster>, ImageError> {
        assert!(buf.len() as u64 >= self.cluster_bytes, "a cluster's room");
        if self.at >= self.disk_bytes {
            return Ok(None);
        }
        let start = self.at;
        if let Format::Qcow2(tables) = &self.format {
            let end = tables.unmapped_run_end(start).min(self.disk_bytes);
            let clusters = end.saturating_sub(start) / self.cluster_bytes;
            if clusters > 0 {
                self.at += clusters * self.cluster_bytes;
                return Ok(Some(Cluster::Unallocated(clusters)));
            }
        }
        let len = self.cluster_bytes.min(self.disk_bytes - self.at);
        let buf = &mut buf[..len as usize];
        self.at += len;
        match &mut self.format {
            Format::Raw => {
                read_at(&mut self.file, &self.path, start, buf)?;
                Ok(Some(Cluster::Data(buf.len())))
            }
            Format::Qcow2(tables) => {
                let any = tables.read_guest(&mut self.file, &self.path, start, buf)?;
                Ok(Some(if any {
                    Cluster::Data(buf.len())
                } else {
                    Cluster::Unallocated(1)
                }))
            }
        }
    }
}

fn read_at(
    file: &mut impl Source,
    path: &Path,
    offset: u64,
    buf: &mut [u8],
) -> Result<(), ImageError> {
    let io = |source| ImageError::Io {
        path: path.to_path_buf(),
        source,
    };
    file.seek(SeekFrom::Start(offset)).map_err(io)?;
    file.read_exact(buf).map_err(io)
}

impl Tables {
    /// The header's checks and the L1 table; the guest's disk size.
    fn read(
        path: &Path,
        file: &mut impl Source,
        file_bytes: u64,
    ) -> Result<(Tables, u64), ImageError> {
        let malformed = |what: String| ImageError::Malformed {
            path: path.to_path_buf(),
            what,
        };
        let unsupported = |what: &str| ImageError::Unsupported {
            path: path.to_path_buf(),
            what: what.to_string(),
        };
        let mut header = [0u8; 104];
        let header_len = header.len().min(file_bytes as usize);
        read_at(file, path, 0, &mut header[..header_len])?;
        if header_len < 72 {
            return Err(malformed(format!(
                "{file_bytes} bytes, shorter than a header"
            )));
        }
        let u32_at =
            |at: usize| u32::from_be_bytes(header[at..at + 4].try_into().expect("4 bytes"));
        let u64_at =
            |at: usize| u64::from_be_bytes(header[at..at + 8].try_into().expect("8 bytes"));
        let version = u32_at(4);
        if !(2..=3).contains(&version) {
            return Err(unsupported(&format!("version {version} (2 and 3 are)")));
        }
        if u64_at(8) != 0 {
            return Err(unsupported(
                "a backing file (convert it to a standalone image first)",
            ));
        }
        let cluster_bits = u32_at(20);
        if !CLUSTER_BITS.contains(&cluster_bits) {
            return Err(malformed(format!(
                "cluster bits {cluster_bits}, not 9 to 21"
            )));
        }
        let disk_bytes = u64_at(24);
        if u32_at(32) != 0 {
            return Err(unsupported("encryption"));
        }
        if version == 3 {
            if header_len < 104 {
                return Err(malformed("a version 3 header cut short".into()));
            }
            let features = u64_at(72);
            for (bit, name) in INCOMPATIBLE_KNOWN.iter().skip(1) {
                if features & bit != 0 {
                    return Err(unsupported(name));
                }
            }
            let known: u64 = INCOMPATIBLE_KNOWN.iter().map(|(bit, _)| bit).sum();
            if features & !known != 0 {
                return Err(unsupported(&format!("incompatible features {features:#x}")));
            }
        }
        let l1_entries = u64::from(u32_at(36));
        let l1_offset = u64_at(40);
        let cluster_bytes = 1u64 << cluster_bits;
        let l2_entries = cluster_bytes / 8;
        let needed = disk_bytes.div_ceil(cluster_bytes).div_ceil(l2_entries);
        if l1_entries * 8 > L1_BYTES_MAX || l1_entries < needed {
            return Err(malformed(format!(
                "an L1 table of {l1_entries} entries for a {disk_bytes}-byte disk"
            )));
        }
        if !l1_offset.is_multiple_of(cluster_bytes)
            || l1_offset.saturating_add(l1_entries * 8) > file_bytes
        {
            return Err(malformed(format!(
                "the L1 table at {l1_offset} is not inside the file"
            )));
        }
        let mut raw = vec![0u8; (l1_entries * 8) as usize];
        read_at(file, path, l1_offset, &mut raw)?;
        let l1 = raw
            .chunks_exact(8)
            .map(|e| u64::from_be_bytes(e.try_into().expect("8 bytes")))
            .collect();
        let tables = Tables {
            cluster_bits,
            version,
            l1,
            file_bytes,
            l2: None,
        };
        Ok((tables, disk_bytes))
    }

    /// Where the run of guest bytes from `guest` that no L2 table maps
    /// ends (its L1 entry empty), or `guest` when a table is there.
    fn unmapped_run_end(&self, guest: u64) -> u64 {
        let span = ((1u64 << self.cluster_bits) / 8) << self.cluster_bits;
        let l1_index = guest / span;
        let mut index = l1_index;
        // Bounded by the L1 table's entries.
        while self
            .l1
            .get(index as usize)
            .is_some_and(|entry| entry & OFFSET_MASK == 0)
        {
            index += 1;
        }
        if index == l1_index {
            guest
        } else {
            index * span
        }
    }

    /// Reads guest bytes `start..start + buf.len()` into `buf` (zeros
    /// where nothing is mapped); whether any of them is mapped data.
    fn read_guest(
        &mut self,
        file: &mut impl Source,
        path: &Path,
        start: u64,
        buf: &mut [u8],
    ) -> Result<bool, ImageError> {
        let cluster_bytes = 1u64 << self.cluster_bits;
        let mut any = false;
        let mut done = 0usize;
        // Each round reads up to the end of one of the image's clusters.
        while done < buf.len() {
            let guest = start + done as u64;
            let within = guest % cluster_bytes;
            let len = ((cluster_bytes - within) as usize).min(buf.len() - done);
            let part = &mut buf[done..done + len];
            match self.host_offset(file, path, guest >> self.cluster_bits)? {
                Some(host) => {
                    if host.saturating_add(within + len as u64) > self.file_bytes {
                        return Err(ImageError::Malformed {
                            path: path.to_path_buf(),
                            what: format!(
                                "guest cluster {} maps past the end of the file",
                                guest >> self.cluster_bits
                            ),
                        });
                    }
                    read_at(file, path, host + within, part)?;
                    any = true;
                }
                None => part.fill(0),
            }
            done += len;
        }
        Ok(any)
    }

    /// Where guest cluster `index` is in the file, or `None` when it is
    /// not allocated (or reads as zeros).
    fn host_offset(
        &mut self,
        file: &mut impl Source,
        path: &Path,
        index: u64,
    ) -> Result<Option<u64>, ImageError> {
        let malformed = |what: String| ImageError::Malformed {
            path: path.to_path_buf(),
            what,
        };
        let cluster_bytes = 1u64 << self.cluster_bits;
        let l2_entries = cluster_bytes / 8;
        let l1_index = (index / l2_entries) as usize;
        let l1_entry = *self
            .l1
            .get(l1_index)
            .ok_or_else(|| malformed(format!("no L1 entry for guest cluster {index}")))?;
        let l2_offset = l1_entry & OFFSET_MASK;
        if l2_offset == 0 {
            return Ok(None);
        }
        if self.l2.as_ref().is_none_or(|(at, _)| *at != l1_index) {
            if !l2_offset.is_multiple_of(cluster_bytes)
                || l2_offset.saturating_add(cluster_bytes) > self.file_bytes
            {
                return Err(malformed(format!(
                    "the L2 table at {l2_offset} is not inside the file"
                )));
            }
            let mut raw = vec![0u8; cluster_bytes as usize];
            read_at(file, path, l2_offset, &mut raw)?;
            let table = raw
                .chunks_exact(8)
                .map(|e| u64::from_be_bytes(e.try_into().expect("8 bytes")))
                .collect();
            self.l2 = Some((l1_index, table));
        }
        let (_, table) = self.l2.as_ref().expect("just read");
        let entry = table[(index % l2_entries) as usize];
        if entry & COMPRESSED != 0 {
            return Err(ImageError::Unsupported {
                path: path.to_path_buf(),
                what: format!(
                    "compressed clusters (guest cluster {index}); `qemu-img convert -O qcow2` without -c writes them uncompressed"
                ),
            });
        }
        let host = entry & OFFSET_MASK;
        let zeros = self.version >= 3 && entry & ALL_ZEROS != 0;
        if host == 0 || zeros {
            return Ok(None);
        }
        if !host.is_multiple_of(cluster_bytes) {
            return Err(malformed(format!(
                "guest cluster {index} maps to {host}, not a cluster's start"
            )));
        }
        Ok(Some(host))
    }
}

/// The report's sample disks: two 8 MiB ext4 images of seeded
/// directories sharing three files, the second converted to QCOW2 (as a
/// guest's disk would be), built in `dir` with `mkfs.ext4 -d` and
/// `qemu-img`, fixed UUID, hash seed and time so that the same bytes come
/// out. `Ok(None)` when either tool is missing (the caller says the
/// figures are skipped); `Err` when one fails.
pub fn sample_images(dir: &Path) -> Result<Option<[PathBuf; 2]>, String> {
    use rand::{RngCore, SeedableRng};
    let found = |tool: &str| {
        std::process::Command::new(tool)
            .arg("--help")
            .output()
            .is_ok()
    };
    if !found("mkfs.ext4") || !found("qemu-img") {
        return Ok(None);
    }
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(25);
    let trees = [dir.join("tree-a"), dir.join("tree-b")];
    let shared: Vec<Vec<u8>> = (0..3)
        .map(|_| {
            let mut bytes = vec![0u8; 200_000];
            rng.fill_bytes(&mut bytes);
            bytes
        })
        .collect();
    for (t, tree) in trees.iter().enumerate() {
        std::fs::create_dir_all(tree).map_err(|e| format!("{}: {e}", tree.display()))?;
        let own = if t == 0 { 40 } else { 12 };
        for i in 0..own {
            let mut bytes = vec![0u8; 9_000 + 2_003 * i];
            rng.fill_bytes(&mut bytes);
            write_fixed(&tree.join(format!("own{i}")), &bytes)?;
        }
        for (i, bytes) in shared.iter().enumerate() {
            write_fixed(&tree.join(format!("shared{i}")), bytes)?;
        }
    }
    let raw = [dir.join("a.img"), dir.join("b.img")];
    for (tree, image) in trees.iter().zip(&raw) {
        std::fs::File::create(image)
            .and_then(|file| file.set_len(8 << 20))
            .map_err(|e| format!("{}: {e}", image.display()))?;
        run_tool(
            std::process::Command::new("mkfs.ext4")
                .env("E2FSPROGS_FAKE_TIME", "1700000000")
                .args(["-q", "-F", "-U", "00000000-0000-4000-8000-000000000025"])
                .args(["-E", "hash_seed=00000000-0000-4000-8000-000000000025"])
                .arg("-d")
                .arg(tree)
                .arg(image),
        )?;
    }
    let qcow = dir.join("b.qcow2");
    run_tool(
        std::process::Command::new("qemu-img")
            .args(["convert", "-O", "qcow2"])
            .arg(&raw[1])
            .arg(&qcow),
    )?;
    Ok(Some([raw[0].clone(), qcow]))
}

fn write_fixed(path: &Path, bytes: &[u8]) -> Result<(), String> {
    let fail = |e: std::io::Error| format!("{}: {e}", path.display());
    std::fs::write(path, bytes).map_err(fail)?;
    let time = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_700_000_000);
    File::options()
        .write(true)
        .open(path)
        .and_then(|file| file.set_modified(time))
        .map_err(fail)
}

fn run_tool(command: &mut std::process::Command) -> Result<(), String> {
    let out = command.output().map_err(|e| format!("{command:?}: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{command:?}: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// The body of the `qcow2` fuzz target: any bytes as an image, read to
/// the end (at most [`FUZZ_CLUSTERS_MAX`] clusters) in clusters of 512 B
/// to 64 KiB (the first byte picks), must give clusters or a typed error,
/// never a panic; the bytes of a data cluster are exactly its length.
pub fn fuzz_qcow2(data: &[u8]) {
    let cluster_bytes = 512u64 << (data.first().copied().unwrap_or(0) % 8);
    let source = std::io::Cursor::new(data);
    let name = Path::new("fuzz input");
    let Ok(mut image) = Image::from_source(source, data.len() as u64, name, cluster_bytes) else {
        return;
    };
    let mut buf = vec![0u8; cluster_bytes as usize];
    let mut seen = 0u64;
    for _ in 0..FUZZ_CLUSTERS_MAX {
        match image.next_cluster(&mut buf) {
            Ok(Some(Cluster::Data(len))) => {
                assert!(
                    len as u64 <= cluster_bytes && len > 0,
                    "a data cluster of {len} bytes"
                );
                seen += 1;
            }
            Ok(Some(Cluster::Unallocated(count))) => {
                assert!(count > 0, "a run of no clusters");
                seen += count;
            }
            Ok(None) => {
                assert_eq!(
                    seen,
                    image.disk_bytes().div_ceil(cluster_bytes),
                    "every cluster, once"
                );
                return;
            }
            Err(ImageError::Io { source, .. }) => panic!("an I/O error reading memory: {source}"),
            Err(_) => return,
        }
    }
}

/// Clusters the fuzz body reads of one input at most (a damaged size may
/// name a vast disk).
pub const FUZZ_CLUSTERS_MAX: usize = 4_096;
