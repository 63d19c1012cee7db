//! Lookups and reads: at most the two pages holding a hash's buckets,
//! every page checked before a byte of it is trusted; whole reads for a
//! scrub, a rebuild or a freeze that carries entries.

use crate::cuckoo::{self, CuckooConfig, CuckooTable};
use crate::flash::{Flash, FlashError, ReadStatus};
use crate::format::incarnation::{
    decode_slot, Header, IncarnationPageFault, PAGE_HEADER_BYTES, SLOT_BYTES,
};
use crate::types::{Hash, Value};

use super::*;

impl Incarnation {
    /// Looks `hash` up, reading at most the two pages holding its buckets.
    #[cfg(feature = "testing")]
    pub fn get<F: Flash>(
        &self,
        flash: &mut F,
        hash: &Hash,
    ) -> Result<Option<Value>, HashStoreError> {
        let mut buf = Vec::new();
        Ok(self.lookup(flash, hash, &mut buf)?.value)
    }

    /// [`Incarnation::get`], also telling how many pages it read and whether
    /// one needs scrubbing. The filter, if any, names the candidate buckets
    /// that may hold the hash: a miss mostly reads nothing, a hit the one
    /// page of its bucket. Without a filter bucket h1 is searched first, and
    /// the page of h2 read only if h1 lacks the hash and lies on another
    /// page. A false positive costs a read, never an answer. `buf` is the caller's
    /// page buffer, kept between lookups: no allocation once it is sized.
    #[cfg(any(test, feature = "testing"))]
    pub fn lookup<F: Flash>(
        &self,
        flash: &mut F,
        hash: &Hash,
        buf: &mut Vec<u8>,
    ) -> Result<Lookup, HashStoreError> {
        self.lookup_with(flash, hash, buf, true)
    }

    /// [`Incarnation::lookup`], past the filter only if `use_filter` (off:
    /// to measure what the filter saves; the answer is the same). A
    /// candidate page that fails its checks is a typed error unless the
    /// other candidate holds the hash (a hash sits once in an incarnation).
    pub fn lookup_with<F: Flash>(
        &self,
        flash: &mut F,
        hash: &Hash,
        buf: &mut Vec<u8>,
        use_filter: bool,
    ) -> Result<Lookup, HashStoreError> {
        let mut found = Lookup::default();
        let order = self.shape.order;
        let buckets = [cuckoo::h1(hash, order), cuckoo::h2(hash, order)];
        let mut wanted = match &self.filter {
            Some(filter) if use_filter => filter.candidates(hash),
            _ => [true, true],
        };
        for (want, bucket) in wanted.iter_mut().zip(buckets) {
            *want |= self
                .blind
                .binary_search(&self.shape.page_of(bucket))
                .is_ok();
        }
        if wanted == [false, false] {
            found.filtered = true;
            return Ok(found);
        }
        buf.resize(self.geometry.page_bytes as usize, 0);
        let buf = &mut buf[..];
        let mut loaded = None;
        let mut failed: Option<(u64, HashStoreError)> = None;
        for (i, &bucket) in buckets.iter().enumerate() {
            let page = self.shape.page_of(bucket);
            let failed_here = failed.as_ref().is_some_and(|(p, _)| *p == page);
            if (i == 1 && bucket == buckets[0]) || !wanted[i] || failed_here {
                continue;
            }
            if loaded != Some(page) {
                found.pages_read += 1;
                match self.read_page(flash, page, buf) {
                    Ok(status) => found.scrub |= status.scrub,
                    Err(error @ HashStoreError::Corrupt { .. }) => {
                        // The first page that failed is the one named.
                        failed = failed.or(Some((page, error)));
                        continue;
                    }
                    Err(other) => return Err(other),
                }
                loaded = Some(page);
            }
            if let Some(value) = self.search_bucket(buf, page, bucket, hash)? {
                found.value = Some(value);
                return Ok(found);
            }
        }
        match failed {
            Some((_, error)) => Err(error),
            None => Ok(found),
        }
    }

    /// The value `bucket`'s slots in checked page `page` (in `buf`) hold
    /// for `hash`, if any.
    pub(super) fn search_bucket(
        &self,
        buf: &[u8],
        page: u64,
        bucket: u64,
        hash: &Hash,
    ) -> Result<Option<Value>, HashStoreError> {
        let addr = self.page_addr(page);
        for slot in self.bucket_slots_in(buf, bucket) {
            match decode_slot(slot).map_err(|why| corrupt(addr, why))? {
                Some((stored, value)) if stored == *hash => return Ok(Some(value)),
                _ => {}
            }
        }
        Ok(None)
    }

    /// Every (hash, value) in bucket order, reading and checking every page,
    /// and checking that each hash sits in one of its candidate buckets.
    pub fn read_all<F: Flash>(&self, flash: &mut F) -> Result<Vec<(Hash, Value)>, HashStoreError> {
        let placed = self.read_placed(flash)?;
        Ok(placed
            .entries
            .into_iter()
            .map(|(_, _, h, v)| (h, v))
            .collect())
    }

    /// Every entry with its bucket and slot, read and checked as
    /// [`Incarnation::read_all`] does, and whether a page needs scrubbing.
    pub fn read_placed<F: Flash>(&self, flash: &mut F) -> Result<Placed, HashStoreError> {
        self.scan(flash, false).map(|(placed, _)| placed)
    }

    /// Reads every bucket page as [`Incarnation::read_placed`] does; with
    /// `skip_lost`, a page that fails its checks is passed over and listed
    /// (what the rest holds is still checked: no hash twice, no more
    /// entries than the shape's) instead of failing the read.
    pub(super) fn scan<F: Flash>(
        &self,
        flash: &mut F,
        skip_lost: bool,
    ) -> Result<(Placed, Vec<u64>), HashStoreError> {
        let mut buf = vec![0u8; self.geometry.page_bytes as usize];
        let capacity = self.shape.entries.min(PREALLOCATED_ENTRIES_MAX) as usize;
        let mut placed = Placed {
            entries: Vec::with_capacity(capacity),
            scrub: false,
        };
        let mut seen = std::collections::HashSet::with_capacity(capacity);
        let mut lost = Vec::new();
        for page in 0..self.shape.pages {
            let start = placed.entries.len();
            match self.read_bucket_page(flash, page, &mut buf, &mut placed.entries) {
                Ok(status) => placed.scrub |= status.scrub,
                Err(HashStoreError::Corrupt { .. }) if skip_lost => {
                    lost.push(page);
                    continue;
                }
                Err(error) => return Err(error),
            }
            for (_, _, hash, _) in &placed.entries[start..] {
                if !seen.insert(*hash) {
                    let page = self.page_addr(page);
                    return Err(HashStoreError::DuplicateHash { page });
                }
            }
        }
        let found = placed.entries.len() as u64;
        let expected = self.shape.entries;
        if found > expected || (lost.is_empty() && found != expected) {
            return Err(HashStoreError::EntryCount { expected, found });
        }
        Ok((placed, lost))
    }

    /// Reads bucket page `page` into `buf` and appends its entries to
    /// `out`, each checked to sit in one of its candidate buckets and,
    /// where the filter saw the page, to carry the tag the filter holds
    /// for its slot (else a lookup the filter rules out would miss what
    /// the page lists); on an error `out` is left as it was.
    pub(super) fn read_bucket_page<F: Flash>(
        &self,
        flash: &mut F,
        page: u64,
        buf: &mut [u8],
        out: &mut Vec<(u64, usize, Hash, Value)>,
    ) -> Result<ReadStatus, HashStoreError> {
        let start = out.len();
        let status = self.read_page(flash, page, buf)?;
        let addr = self.page_addr(page);
        let order = self.shape.order;
        let (first, count) = self.shape.page_buckets(page);
        let filter = self
            .filter
            .as_deref()
            .filter(|_| self.blind.binary_search(&page).is_err())
            .filter(|_| !crate::planted::active(crate::planted::Bug::FilterTagsUnchecked));
        for bucket in first..first + u64::from(count) {
            for (slot, bytes) in self.bucket_slots_in(buf, bucket).enumerate() {
                let decoded = match decode_slot(bytes) {
                    Ok(decoded) => decoded,
                    Err(why) => {
                        out.truncate(start);
                        return Err(corrupt(addr, why));
                    }
                };
                let Some((hash, value)) = decoded else {
                    continue;
                };
                if cuckoo::h1(&hash, order) != bucket && cuckoo::h2(&hash, order) != bucket {
                    out.truncate(start);
                    return Err(corrupt(addr, IncarnationPageFault::Misplaced { bucket }));
                }
                if filter.is_some_and(|f| !f.holds_at(bucket, slot, &hash)) {
                    out.truncate(start);
                    let slot = slot as u32;
                    return Err(corrupt(
                        addr,
                        IncarnationPageFault::FilterDisagrees { bucket, slot },
                    ));
                }
                out.push((bucket, slot, hash, value));
            }
        }
        Ok(status)
    }

    /// The incarnation as a table with the same placement: what a rewrite
    /// freezes again elsewhere.
    pub fn read_table<F: Flash>(
        &self,
        flash: &mut F,
    ) -> Result<CuckooTable<Value>, HashStoreError> {
        let placed = self.read_placed(flash)?;
        let config = CuckooConfig {
            bucket_slots: self.shape.bucket_slots,
            ..CuckooConfig::new(self.shape.order, 0)
        };
        CuckooTable::from_placements(config, placed.entries).map_err(HashStoreError::Table)
    }

    /// Reads region page `page` into `buf` and checks it; what the ECC saw.
    pub(super) fn read_page<F: Flash>(
        &self,
        flash: &mut F,
        page: u64,
        buf: &mut [u8],
    ) -> Result<ReadStatus, HashStoreError> {
        let addr = self.page_addr(page);
        let status = match flash.read_checked(addr, buf) {
            Ok(status) => status,
            Err(FlashError::Uncorrectable { .. }) => {
                return Err(corrupt(addr, IncarnationPageFault::Uncorrectable))
            }
            Err(other) => return Err(other.into()),
        };
        self.check_page(page, buf)
            .map_err(|why| corrupt(addr, why))?;
        Ok(status)
    }

    /// Checks a page's header and CRC against what page `page` must hold.
    pub(super) fn check_page(&self, page: u64, bytes: &[u8]) -> Result<(), IncarnationPageFault> {
        let header = Header::check(bytes)?;
        if header.generation != self.region.generation {
            return Err(IncarnationPageFault::WrongGeneration {
                found: header.generation,
            });
        }
        let (first, count) = self.shape.page_buckets(page);
        let found = (header.first, header.count, usize::from(header.slots));
        if found != (first, count, self.shape.bucket_slots) {
            return Err(IncarnationPageFault::WrongBuckets {
                found_first: header.first,
                found_count: header.count,
                found_slots: header.slots,
            });
        }
        Ok(())
    }

    /// The slot images of `bucket` in a checked page holding it.
    pub(super) fn bucket_slots_in<'a>(
        &self,
        page: &'a [u8],
        bucket: u64,
    ) -> impl Iterator<Item = &'a [u8]> + 'a {
        let index = (bucket % u64::from(self.shape.buckets_per_page)) as usize;
        let start = PAGE_HEADER_BYTES + index * self.shape.bucket_bytes();
        page[start..start + self.shape.bucket_bytes()].chunks_exact(SLOT_BYTES)
    }
}
