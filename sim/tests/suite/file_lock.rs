//! One writer an image (DESIGN.md guarantee 13): a store on a `FileFlash`
//! holds the image's lock, so a second opener, here another process, gets
//! `FlashError::Locked` and changes nothing; once the first closes, every
//! entry either flushed is there.
//!
//! The second process is this test binary again, running the ignored test
//! `holder` with the image's path in `LOGSTORE_LOCK_HOLDER`.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};

use crate::common::{hash_of, info_of};
use logstore::{FileFlash, FlashError, Geometry, Store, StoreConfig};

const HOLDER_ENV: &str = "LOGSTORE_LOCK_HOLDER";

fn geometry() -> Geometry {
    Geometry::new(512, 16, 64).unwrap()
}

/// Keys `from..to` inserted and flushed.
fn insert_range(store: &mut Store<FileFlash>, keys: std::ops::Range<u64>) {
    for key in keys {
        store.insert(hash_of(key), info_of(key)).unwrap();
    }
    store.flush().unwrap();
}

/// The other process: opens the image, says "open", waits for a line on
/// its stdin, then writes keys 1,000..1,300 and closes.
#[test]
#[ignore = "run by second_opener_of_an_image_is_refused as a second process"]
fn holder() {
    let path = std::env::var(HOLDER_ENV).expect("run by the two-process test");
    let flash = FileFlash::open(Path::new(&path), geometry()).unwrap();
    let (mut store, _) = Store::open(flash).unwrap();
    println!("open");
    std::io::stdout().flush().unwrap();
    let mut line = String::new();
    std::io::stdin().read_line(&mut line).unwrap();
    insert_range(&mut store, 1_000..1_300);
}

#[test]
fn second_opener_of_an_image_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("index.img");
    {
        let flash = FileFlash::create(&path, geometry()).unwrap();
        let mut store = Store::create(flash, StoreConfig::new(6, 4)).unwrap();
        insert_range(&mut store, 0..300);
    }
    let mut holder = Command::new(std::env::current_exe().unwrap())
        .args([
            "file_lock::holder",
            "--exact",
            "--ignored",
            "--nocapture",
            "--quiet",
        ])
        .env(HOLDER_ENV, &path)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut said = BufReader::new(holder.stdout.take().unwrap());
    let mut line = String::new();
    // Bounded: the holder says "open" once, or its stdout closes.
    while !line.starts_with("open") {
        line.clear();
        assert!(said.read_line(&mut line).unwrap() > 0, "holder ended early");
    }
    let second = FileFlash::open(&path, geometry());
    assert!(matches!(second, Err(FlashError::Locked)), "{second:?}");
    let created_over = FileFlash::create(&path, geometry());
    assert!(matches!(created_over, Err(FlashError::Locked)));
    holder.stdin.take().unwrap().write_all(b"go\n").unwrap();
    assert!(holder.wait().unwrap().success());
    let flash = FileFlash::open(&path, geometry()).unwrap();
    let (mut store, _) = Store::open(flash).unwrap();
    for key in (0..300).chain(1_000..1_300) {
        assert_eq!(store.get(&hash_of(key)).unwrap(), Some(info_of(key)));
    }
}
