//! `ingest --image` (issue 25): two ext4 images built from directories
//! with overlapping files, one converted to QCOW2, ingested at 4 KiB and
//! 64 KiB clusters; every count equals an independent SHA-256 pass over
//! the same clusters, read through `qemu-img` (its guest view and its map
//! of what is allocated). Images the reader does not take are refused,
//! named; a damaged image never panics.
//!
//! Needs `mkfs.ext4` and `qemu-img`; without them the tests say so and
//! pass (CI installs both: `.ci/run`).

use logstore_sim::measure::image::{Cluster, Image, ImageError};
use rand::{Rng, RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::Value;
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::Command;

const SIM: &str = env!("CARGO_BIN_EXE_logstore-sim");

/// Runs a tool; `None` when it is not installed.
fn tool(program: &str, args: &[&str]) -> Option<std::process::Output> {
    let out = Command::new(program).args(args).output().ok()?;
    assert!(
        out.status.success(),
        "{program} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(out)
}

fn have(program: &str) -> bool {
    let found = Command::new(program).arg("--help").output().is_ok();
    if !found {
        eprintln!("skipped: {program} is not installed (apt-get install e2fsprogs qemu-utils)");
    }
    found
}

/// Two directories sharing three files, each with files of its own;
/// seeded content.
fn trees(root: &Path) -> [PathBuf; 2] {
    let mut rng = ChaCha8Rng::seed_from_u64(25);
    let mut file = |path: PathBuf, bytes: usize| {
        let mut data = vec![0u8; bytes];
        rng.fill_bytes(&mut data);
        std::fs::write(path, data).unwrap();
    };
    let (a, b) = (root.join("a"), root.join("b"));
    std::fs::create_dir_all(&a).unwrap();
    std::fs::create_dir_all(&b).unwrap();
    for i in 0..24 {
        file(a.join(format!("own{i}")), 7_000 + 3_001 * i);
    }
    for i in 0..3 {
        file(a.join(format!("shared{i}")), 70_000);
        std::fs::copy(a.join(format!("shared{i}")), b.join(format!("shared{i}"))).unwrap();
    }
    for i in 0..8 {
        file(b.join(format!("own{i}")), 50_000 + 17 * i);
    }
    [a, b]
}

/// An 8 MiB ext4 image of `dir`.
fn ext4(dir: &Path, image: &Path) {
    std::fs::File::create(image)
        .unwrap()
        .set_len(8 << 20)
        .unwrap();
    tool(
        "mkfs.ext4",
        &[
            "-q",
            "-F",
            "-d",
            dir.to_str().unwrap(),
            image.to_str().unwrap(),
        ],
    );
}

/// Clusters of `cluster_bytes` of `image` read through qemu-img: its guest
/// view (`convert -O raw`), allocated where its map says data. Returns
/// (hashes of the allocated clusters, unallocated clusters).
fn independent_pass(image: &Path, cluster_bytes: u64, scratch: &Path) -> (Vec<[u8; 32]>, u64) {
    use sha2::{Digest, Sha256};
    let raw = scratch.join("guest.raw");
    let (image_arg, raw_arg) = (image.to_str().unwrap(), raw.to_str().unwrap());
    tool("qemu-img", &["convert", "-O", "raw", image_arg, raw_arg]);
    let map = tool("qemu-img", &["map", "--output=json", image_arg]).unwrap();
    let extents: Vec<Value> = serde_json::from_slice(&map.stdout).unwrap();
    let is_qcow = std::fs::read(image).unwrap().starts_with(b"QFI\xfb");
    let guest = std::fs::read(&raw).unwrap();
    let (mut hashes, mut unallocated) = (Vec::new(), 0);
    for (index, cluster) in guest.chunks(cluster_bytes as usize).enumerate() {
        let (start, end) = (
            index as u64 * cluster_bytes,
            index as u64 * cluster_bytes + cluster.len() as u64,
        );
        // A raw image keeps no map: every cluster is the guest's.
        let allocated = !is_qcow
            || extents.iter().any(|e| {
                let (s, l) = (e["start"].as_u64().unwrap(), e["length"].as_u64().unwrap());
                e["data"] == true && s < end && start < s + l
            });
        if allocated {
            hashes.push(Sha256::digest(cluster).into());
        } else {
            unallocated += 1;
        }
    }
    (hashes, unallocated)
}

fn ingest(images: &[&Path], cluster_bytes: u64) -> Value {
    let mut command = Command::new(SIM);
    command.args([
        "ingest",
        "--json",
        "--cluster-bytes",
        &cluster_bytes.to_string(),
    ]);
    for image in images {
        command.arg("--image").arg(image);
    }
    let out = command.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn image_ingest_counts_equal_an_independent_pass() {
    if !have("mkfs.ext4") || !have("qemu-img") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let [a, b] = trees(dir.path());
    let (a_img, b_img, b_qcow) = (
        dir.path().join("a.img"),
        dir.path().join("b.img"),
        dir.path().join("b.qcow2"),
    );
    ext4(&a, &a_img);
    ext4(&b, &b_img);
    tool(
        "qemu-img",
        &[
            "convert",
            "-O",
            "qcow2",
            b_img.to_str().unwrap(),
            b_qcow.to_str().unwrap(),
        ],
    );
    for cluster_bytes in [4096u64, 65536] {
        let (mut hashes, mut unallocated) = (Vec::new(), 0);
        for image in [&a_img, &b_qcow] {
            let (more, skipped) = independent_pass(image, cluster_bytes, dir.path());
            hashes.extend(more);
            unallocated += skipped;
        }
        let unique: HashSet<[u8; 32]> = hashes.iter().copied().collect();
        let figures = ingest(&[&a_img, &b_qcow], cluster_bytes);
        assert_eq!(figures["images"], 2);
        assert_eq!(
            figures["clusters"],
            hashes.len() as u64,
            "{cluster_bytes}: {figures}"
        );
        assert_eq!(
            figures["unique"],
            unique.len() as u64,
            "{cluster_bytes}: {figures}"
        );
        assert_eq!(
            figures["clusters_unallocated"], unallocated,
            "{cluster_bytes}: {figures}"
        );
        assert!(
            unallocated > 0,
            "the QCOW2 image leaves clusters unallocated"
        );
        // The shared files make duplicates across the two images.
        assert!(unique.len() < hashes.len());
        // The same disk raw and QCOW2: the guest's allocated bytes agree.
        let raw = ingest(&[&b_img], cluster_bytes);
        let qcow = ingest(&[&b_qcow], cluster_bytes);
        assert_eq!(
            raw["clusters"].as_u64().unwrap(),
            qcow["clusters"].as_u64().unwrap() + qcow["clusters_unallocated"].as_u64().unwrap()
        );
    }
}

/// What the reader does not take is refused, named: compressed clusters,
/// a backing file; a version 2 image and a raw file of any bytes read.
#[test]
fn images_the_reader_does_not_take_are_refused_by_name() {
    if !have("qemu-img") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = |name: &str| dir.path().join(name).to_str().unwrap().to_string();
    let mut data = vec![0u8; 1 << 20];
    ChaCha8Rng::seed_from_u64(1).fill_bytes(&mut data);
    std::fs::write(path("data.raw"), &data).unwrap();
    // Text compresses (random bytes would be stored as they are).
    let text: Vec<u8> = (0..1u32 << 20)
        .map(|i| b'a' + (i / 4096 % 26) as u8)
        .collect();
    std::fs::write(path("text.raw"), &text).unwrap();
    tool(
        "qemu-img",
        &[
            "convert",
            "-c",
            "-O",
            "qcow2",
            &path("text.raw"),
            &path("compressed.qcow2"),
        ],
    );
    tool(
        "qemu-img",
        &[
            "create",
            "-q",
            "-f",
            "qcow2",
            "-b",
            &path("data.raw"),
            "-F",
            "raw",
            &path("child.qcow2"),
        ],
    );
    tool(
        "qemu-img",
        &[
            "convert",
            "-O",
            "qcow2",
            "-o",
            "compat=0.10",
            &path("data.raw"),
            &path("v2.qcow2"),
        ],
    );
    let read_all = |name: &str| -> Result<u64, ImageError> {
        let mut image = Image::open(Path::new(&path(name)), 4096)?;
        let mut buf = vec![0u8; 4096];
        let mut data = 0;
        while let Some(cluster) = image.next_cluster(&mut buf)? {
            data += u64::from(matches!(cluster, Cluster::Data(_)));
        }
        Ok(data)
    };
    let message = |name: &str| read_all(name).unwrap_err().to_string();
    assert!(message("compressed.qcow2").contains("compressed clusters"));
    assert!(message("child.qcow2").contains("backing file"));
    assert_eq!(read_all("v2.qcow2").unwrap(), 256, "version 2 reads");
    assert_eq!(read_all("data.raw").unwrap(), 256);
    let out = Command::new(SIM)
        .args(["ingest", "--image", &path("compressed.qcow2")])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("compressed clusters"));
}

/// A QCOW2 image damaged anywhere in its header and tables is read or
/// refused with a typed error: never a panic, never out of bounds.
#[test]
fn a_damaged_qcow2_image_is_read_or_refused_never_a_panic() {
    if !have("qemu-img") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let raw = dir.path().join("d.raw");
    let qcow = dir.path().join("d.qcow2");
    let mut data = vec![0u8; 3 << 20];
    let mut rng = ChaCha8Rng::seed_from_u64(2);
    rng.fill_bytes(&mut data[..1 << 20]);
    std::fs::write(&raw, &data).unwrap();
    tool(
        "qemu-img",
        &[
            "convert",
            "-O",
            "qcow2",
            "-o",
            "cluster_size=4096",
            raw.to_str().unwrap(),
            qcow.to_str().unwrap(),
        ],
    );
    let clean = std::fs::read(&qcow).unwrap();
    let (mut read, mut refused) = (0, 0);
    for round in 0..300 {
        let mut damaged = clean.clone();
        for _ in 0..rng.random_range(1..8) {
            // The header and the tables after it (the first clusters).
            let at = rng.random_range(0..16_384.min(damaged.len()));
            damaged[at] ^= 1 << rng.random_range(0..8);
        }
        if round % 10 == 0 {
            damaged.truncate(rng.random_range(0..damaged.len()));
        }
        let path = dir.path().join("damaged.qcow2");
        std::fs::write(&path, &damaged).unwrap();
        let outcome = (|| -> Result<(), ImageError> {
            let mut image = Image::open(&path, 4096)?;
            let mut buf = vec![0u8; 4096];
            // Bounded: a damaged size may name a vast disk.
            for _ in 0..20_000 {
                if image.next_cluster(&mut buf)?.is_none() {
                    break;
                }
            }
            Ok(())
        })();
        match outcome {
            Ok(()) => read += 1,
            Err(ImageError::Io { .. }) => panic!("round {round}: an I/O error on a readable file"),
            Err(_) => refused += 1,
        }
    }
    assert!(read > 0 && refused > 0, "{read} read, {refused} refused");
}
