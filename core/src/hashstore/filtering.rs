//! The incarnation's filter: loaded from its pages or rebuilt from the
//! buckets (blind where a bucket page cannot be read), and the scrub's
//! check of every page.

use std::ops::Range;

use crate::filter::HashFilter;
use crate::flash::{Flash, FlashError, ReadStatus};
use crate::format::filter;
use crate::planted::{self, Bug};

use super::*;

impl Incarnation {
    /// Loads the filter from its pages, or builds it again from the
    /// buckets when it has none or a page of it does not check out (each
    /// read within the ECC, its header naming this incarnation and its
    /// length). A bucket page that cannot be read then leaves the filter
    /// blind there ([`FilterLoad::Blind`]): one filter page and one bucket
    /// page lost together cost what that bucket page held, named on
    /// lookup, not the incarnation. `Err` only on a device failure or
    /// buckets that contradict each other or the shape.
    pub fn load_filter<F: Flash>(&mut self, flash: &mut F) -> Result<FilterLoad, HashStoreError> {
        if let Some(filter) = self.read_filter(flash)? {
            self.filter = Some(std::sync::Arc::new(filter));
            return Ok(FilterLoad::Loaded);
        }
        let (placed, lost) = self.scan(flash, true)?;
        let filter = HashFilter::build(
            self.shape.order,
            self.shape.bucket_slots,
            placed
                .entries
                .iter()
                .map(|(bucket, slot, hash, _)| (*bucket, *slot, hash)),
        );
        self.filter = Some(std::sync::Arc::new(filter));
        if lost.is_empty() {
            return Ok(FilterLoad::Rebuilt);
        }
        self.note_lost(&lost);
        self.blind = lost.as_slice().into();
        Ok(FilterLoad::Blind {
            pages: lost.len() as u64,
        })
    }

    /// The filter its pages hold, if they all check out. Bounded by the
    /// shape's filter pages.
    pub(super) fn read_filter<F: Flash>(
        &self,
        flash: &mut F,
    ) -> Result<Option<HashFilter>, HashStoreError> {
        if self.shape.filter_pages == 0 {
            return Ok(None);
        }
        let total = self.shape.filter_bytes as usize;
        let mut bytes = Vec::with_capacity(total);
        let mut buf = vec![0u8; self.geometry.page_bytes as usize];
        for index in 0..self.shape.filter_pages {
            let addr = self.page_addr(self.shape.pages + index);
            match flash.read_checked(addr, &mut buf) {
                Ok(_) => {}
                Err(FlashError::Uncorrectable { .. }) => return Ok(None),
                Err(other) => return Err(other.into()),
            }
            let Some((header, payload)) = filter::decode_page(&buf) else {
                return Ok(None);
            };
            let expected = header.generation == self.region.generation
                && u64::from(header.index) == index
                && header.total_bytes as usize == total;
            if !expected {
                return Ok(None);
            }
            let take = (total - bytes.len()).min(payload.len());
            bytes.extend_from_slice(&payload[..take]);
        }
        Ok(HashFilter::decode(
            &bytes,
            self.shape.order,
            self.shape.bucket_slots,
        ))
    }

    /// The filter, if built or loaded.
    pub fn filter(&self) -> Option<&HashFilter> {
        self.filter.as_deref()
    }

    /// Puts `filter` in front of the incarnation (tests: a filter that
    /// answers falsely, or none).
    #[cfg(feature = "testing")]
    pub fn set_filter(&mut self, filter: Option<HashFilter>) {
        self.filter = filter.map(std::sync::Arc::new);
    }

    /// Reads and checks region pages `pages` (a background scrub), bucket
    /// pages and filter pages alike. A page that fails its checks is named
    /// in the answer, not an error, so the scrub goes on past it; only a
    /// device failure is an error.
    pub fn check_pages<F: Flash>(
        &self,
        flash: &mut F,
        pages: Range<u64>,
    ) -> Result<Checked, HashStoreError> {
        let mut buf = vec![0u8; self.geometry.page_bytes as usize];
        let mut checked = Checked::default();
        for page in pages.start..pages.end.min(self.shape.all_pages()) {
            let status = if page < self.shape.pages {
                match self.read_page(flash, page, &mut buf) {
                    Ok(status) => status,
                    Err(error @ HashStoreError::Corrupt { .. }) => {
                        if planted::active(Bug::ScrubCursorStuck) {
                            return Err(error);
                        }
                        checked.lost.push(page);
                        continue;
                    }
                    Err(other) => return Err(other),
                }
            } else {
                match self.check_filter_page(flash, page, &mut buf)? {
                    Some(status) => status,
                    None => {
                        checked.filter_pages_damaged += 1;
                        checked.status.scrub = true;
                        continue;
                    }
                }
            };
            let most = &mut checked.status;
            most.bits_corrected = most.bits_corrected.max(status.bits_corrected);
            most.scrub |= status.scrub;
        }
        Ok(checked)
    }

    /// A filter page read back as a scrub does: `None` if it no longer
    /// checks out (the incarnation is to be rewritten, the filter built
    /// again then), which is not an error.
    pub(super) fn check_filter_page<F: Flash>(
        &self,
        flash: &mut F,
        page: u64,
        buf: &mut [u8],
    ) -> Result<Option<ReadStatus>, HashStoreError> {
        let status = match flash.read_checked(self.page_addr(page), buf) {
            Ok(status) => status,
            Err(FlashError::Uncorrectable { .. }) => return Ok(None),
            Err(other) => return Err(other.into()),
        };
        match filter::decode_page(buf) {
            Some((header, _)) if header.generation == self.region.generation => Ok(Some(status)),
            _ => Ok(None),
        }
    }
}
