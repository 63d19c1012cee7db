//! One trait-level suite, run on every `Flash` backend: `SimFlash` and
//! `FileFlash` must obey the same NAND rules.

use logstore::testing::ERASED;
use logstore::{BlockAddr, FileFlash, Flash, FlashError, Geometry, PageAddr, Rule};
use logstore_sim::{SimConfig, SimFlash};

fn geometry() -> Geometry {
    Geometry::new(256, 8, 6).unwrap()
}

fn page_of(flash: &impl Flash, fill: u8) -> Vec<u8> {
    vec![fill; flash.geometry().page_bytes as usize]
}

fn read(flash: &mut impl Flash, page: PageAddr) -> Vec<u8> {
    let mut buf = page_of(flash, 0);
    flash.read(page, &mut buf).unwrap();
    buf
}

fn erased_device_reads_ff(flash: &mut impl Flash) {
    let g = flash.geometry();
    for index in 0..g.pages() {
        assert!(read(flash, g.page_at(index)).iter().all(|&b| b == ERASED));
    }
}

fn program_reads_back(flash: &mut impl Flash) {
    let page = PageAddr::new(1, 0);
    let data: Vec<u8> = (0..flash.geometry().page_bytes).map(|i| i as u8).collect();
    flash.program(page, &data).unwrap();
    assert_eq!(read(flash, page), data);
    assert!(read(flash, PageAddr::new(1, 1))
        .iter()
        .all(|&b| b == ERASED));
}

fn rules_are_enforced(flash: &mut impl Flash) {
    let data = page_of(flash, 0x5A);
    flash.program(PageAddr::new(2, 3), &data).unwrap();
    let twice = flash.program(PageAddr::new(2, 3), &page_of(flash, 0));
    assert!(matches!(
        twice,
        Err(FlashError::Violation {
            rule: Rule::ProgramTwice,
            ..
        })
    ));
    let backwards = flash.program(PageAddr::new(2, 1), &data);
    assert!(matches!(
        backwards,
        Err(FlashError::Violation {
            rule: Rule::ProgramOutOfOrder { next_page: 4 },
            ..
        })
    ));
    assert!(read(flash, PageAddr::new(2, 1))
        .iter()
        .all(|&b| b == ERASED));
    assert_eq!(read(flash, PageAddr::new(2, 3)), data);
    let short = flash.program(PageAddr::new(2, 4), &data[1..]);
    assert!(matches!(
        short,
        Err(FlashError::Violation {
            rule: Rule::BufferLength { .. },
            ..
        })
    ));
}

fn out_of_range_is_refused(flash: &mut impl Flash) {
    let g = flash.geometry();
    let data = page_of(flash, 0);
    let mut buf = page_of(flash, 0);
    let past_block = PageAddr::new(g.blocks, 0);
    let past_page = PageAddr::new(0, g.pages_per_block);
    for page in [past_block, past_page] {
        assert!(matches!(
            flash.program(page, &data),
            Err(FlashError::OutOfRange { .. })
        ));
        assert!(matches!(
            flash.read(page, &mut buf),
            Err(FlashError::OutOfRange { .. })
        ));
    }
    assert!(matches!(
        flash.erase(BlockAddr(g.blocks)),
        Err(FlashError::OutOfRange { .. })
    ));
}

fn erase_allows_reprogram(flash: &mut impl Flash) {
    let page = PageAddr::new(3, 0);
    flash.program(page, &page_of(flash, 1)).unwrap();
    flash
        .program(PageAddr::new(3, 5), &page_of(flash, 2))
        .unwrap();
    flash.erase(BlockAddr(3)).unwrap();
    assert!(read(flash, PageAddr::new(3, 5))
        .iter()
        .all(|&b| b == ERASED));
    flash.program(page, &page_of(flash, 3)).unwrap();
    flash.sync().unwrap();
    assert_eq!(read(flash, page), page_of(flash, 3));
}

/// A fresh device and whatever must live as long as it (a temporary folder).
type Fresh = (Box<dyn Flash>, Option<tempfile::TempDir>);

fn contract(make: impl Fn() -> Fresh) {
    let checks: [fn(&mut dyn Flash); 5] = [
        |mut f| erased_device_reads_ff(&mut f),
        |mut f| program_reads_back(&mut f),
        |mut f| rules_are_enforced(&mut f),
        |mut f| out_of_range_is_refused(&mut f),
        |mut f| erase_allows_reprogram(&mut f),
    ];
    for check in checks {
        let (mut flash, _dir) = make();
        check(flash.as_mut());
    }
}

#[test]
fn sim_flash_obeys_the_contract() {
    contract(|| {
        let flash = SimFlash::new(SimConfig::new(geometry()), 7).unwrap();
        (Box::new(flash), None)
    });
}

#[test]
fn file_flash_obeys_the_contract() {
    contract(|| {
        let dir = tempfile::tempdir().unwrap();
        let flash = FileFlash::create(&dir.path().join("device.img"), geometry()).unwrap();
        (Box::new(flash), Some(dir))
    });
}

#[test]
fn file_flash_reopens_with_its_contents_and_rules() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("device.img");
    let data = vec![0x42u8; geometry().page_bytes as usize];
    {
        let mut flash = FileFlash::create(&path, geometry()).unwrap();
        flash.program(PageAddr::new(4, 2), &data).unwrap();
        flash.sync().unwrap();
    }
    let mut flash = FileFlash::open(&path, geometry()).unwrap();
    assert_eq!(read(&mut flash, PageAddr::new(4, 2)), data);
    assert!(matches!(
        flash.program(PageAddr::new(4, 1), &data),
        Err(FlashError::Violation { .. })
    ));
    flash.program(PageAddr::new(4, 3), &data).unwrap();
    drop(flash);
    let wrong = Geometry::new(256, 8, 7).unwrap();
    assert!(matches!(
        FileFlash::open(&path, wrong),
        Err(FlashError::ImageSize { .. })
    ));
}
