//! The `journal` target: the bytes as a journal page and as an anchor
//! record, decoded and round-tripped.

use logstore::testing::format::{seal_page, seal_record, Page};
use logstore::testing::AnchorRecord;

/// Bytes of the page the `journal` target decodes.
pub(crate) const JOURNAL_PAGE_BYTES: usize = 256;

/// Target `journal`: the input as a journal page (padded with 0xFF or
/// truncated), as it is and with its CRC fixed, through `Page::decode`; a
/// decoded page must round-trip. Also the whole input, as it is and with
/// its CRC fixed, through `AnchorRecord::decode`.
pub fn journal(data: &[u8]) {
    let mut page = data[..data.len().min(JOURNAL_PAGE_BYTES)].to_vec();
    page.resize(JOURNAL_PAGE_BYTES, 0xFF);
    check_page(&page);
    seal_page(&mut page);
    check_page(&page);

    check_anchor(data);
    let mut fixed = data.to_vec();
    if seal_record(&mut fixed) {
        check_anchor(&fixed);
    }
}

fn check_page(bytes: &[u8]) {
    if let Ok(page) = Page::decode(bytes) {
        let encoded = page.encode(bytes.len());
        assert_eq!(encoded.len(), bytes.len());
        assert_eq!(Page::decode(&encoded), Ok(page), "page round trip");
    }
}

fn check_anchor(bytes: &[u8]) {
    if let Ok(Some((record, len))) = AnchorRecord::decode(bytes) {
        assert!(len <= bytes.len(), "anchor record longer than its bytes");
        let _ = record.validate(16);
        let encoded = record.encode();
        match AnchorRecord::decode(&encoded) {
            Ok(Some((again, again_len))) => {
                assert_eq!(again, record, "anchor record round trip");
                assert_eq!(again_len, encoded.len());
            }
            other => panic!("a decoded anchor record does not decode re-encoded: {other:?}"),
        }
    }
}
