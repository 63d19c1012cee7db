//! Planted bugs: deliberate defects the test suite must catch, to show the
//! harness has teeth. They exist only with the `planted` feature, which
//! only test builds enable; without it [`active`] is a constant `false` and
//! the hooks compile away.
//!
//! A bug is planted per thread, so tests running in parallel do not see
//! each other's bugs.

/// The defects that can be planted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Bug {
    /// Journal recovery accepts a page whatever its CRC.
    SkipCrc,
    /// A journal flush programs its page but does not sync.
    FlushWithoutSync,
    /// The anchor's lane erases are not counted: its blocks wear unseen.
    AnchorEraseUncounted,
    /// A block retired since the last anchor commit is not recorded at the
    /// next flush: a reopen hands it out again.
    RetiredForgotten,
    /// A program is acknowledged without reading it back.
    UnverifiedProgram,
    /// A recovered journal resumes on the page after the last accepted one,
    /// without erasing, programming pages again.
    ResumeReprogram,
    /// A kicked entry goes to the bucket after the right one.
    KickWrongBucket,
    /// Eviction drops the newest incarnations instead of the oldest.
    EvictNewest,
    /// A freeze leaves the table's tombstones out of the incarnation, so
    /// the older entries they shadowed come back.
    FreezeDropsTombstones,
    /// The ECC layer hands back pages as read, uncorrected.
    SkipCorrection,
    /// Pages read with corrected bits past the threshold are never moved.
    ScrubNever,
    /// Journal recovery takes a bad page in the middle of the log (valid
    /// pages of the chain after it) for the end of the log.
    MiddlePageIsEnd,
    /// The journal writes every page of a paired (MLC, TLC) block, upper
    /// pages too, as on SLC.
    PairingUnaware,
    /// A freeze keys every hash in its filter as in its first candidate
    /// bucket: a lookup never reads a hash kicked to its second.
    FilterFirstBucketOnly,
    /// A file-backed image is opened without its lock: two openers write
    /// over each other.
    NoFileLock,
    /// The background scrub fails on an incarnation page it cannot read
    /// instead of naming it and going on: its cursor never moves past the
    /// page, and the pages after it are never read again.
    ScrubCursorStuck,
    /// The background scrub never reads the anchor's lanes: their first
    /// pages age unread until the store cannot be found.
    ScrubSkipsAnchor,
    /// Open finds the anchor's lanes by their page 0 only: a lane whose
    /// page 0 misleads is never read beside the others.
    LanesByFirstPageOnly,
    /// A recovery keeps the last page it accepted as it is, without a
    /// copy: a torn page the ECC still corrects is served, then lost.
    TornTailKept,
    /// The journal trusts the pairing the part declares: it keeps to the
    /// declared scheme's lower pages (every page where it declares none),
    /// so cells pairing otherwise damage pages it flushed.
    TrustDeclaredPairing,
    /// Any bad block makes a full store the end of life: `Full` (at its
    /// incarnations, say) on a device with a bad block goes read-only for
    /// good, whatever the spare.
    FullIsEndOfLife,
    /// An evicting store evicts only at `incarnations_max`, never to make
    /// room when it runs out of blocks: it answers `Full` instead.
    EvictOnlyAtLimit,
    /// `create` accepts a configuration whose incarnations, journal, lanes
    /// and spare do not fit the device's good blocks.
    AcceptsMisfit,
    /// After a salvage, a lookup answers from an incarnation older than
    /// the lost journal pages (or "absent") as if nothing had been lost.
    SalvageAnswersOlder,
    /// A store that cannot freeze packs its journal at every refused
    /// write, even when the pack leaves no room for another entry: wear
    /// for nothing (the bug `Journal::would_take_more_after` fixed).
    PackAtEveryRefusal,
    /// A journal page whose program fails with a host I/O error is taken
    /// as programmed: the flush acknowledges entries that never reached
    /// the cells.
    IoErrorIgnored,
    /// Journal recovery takes a valid page of the region's generation
    /// whatever its sequence or epoch (`within_region` skipped): a crafted
    /// sequence near `u64::MAX` overflows the positions it computes.
    RecoveryUnbounded,
    /// An incarnation's bucket pages are read without checking each
    /// hash's tag against the filter's: a page listing a hash the filter
    /// rules out answers `contents` with it and `get` without.
    FilterTagsUnchecked,
    /// A commit records the generation counter as it stands, reserving
    /// none ahead: a freeze or pack a power cut stops leaves its pages
    /// under a generation the reopened store hands out again, and one of
    /// them read back stale passes for the retry's.
    GenerationsUnreserved,
    /// Formatting starts generations at 1 whatever an earlier store left
    /// on the part: one of its pages read back stale passes for the new
    /// store's.
    FormatFromGenerationOne,
    /// Recovery names an unreadable journal page lost whenever a later
    /// page of its chain exists, whether or not a completed flush made it
    /// durable: a page a cut tore, with a later one the write cache kept,
    /// is reported lost though nothing durable was (a loss without a
    /// cause: no read went past the ECC).
    LossUnproven,
}

impl Bug {
    #[cfg(feature = "testing")]
    pub const ALL: [Bug; 31] = [
        Bug::SkipCrc,
        Bug::FlushWithoutSync,
        Bug::AnchorEraseUncounted,
        Bug::RetiredForgotten,
        Bug::UnverifiedProgram,
        Bug::ResumeReprogram,
        Bug::KickWrongBucket,
        Bug::EvictNewest,
        Bug::FreezeDropsTombstones,
        Bug::SkipCorrection,
        Bug::ScrubNever,
        Bug::MiddlePageIsEnd,
        Bug::PairingUnaware,
        Bug::FilterFirstBucketOnly,
        Bug::NoFileLock,
        Bug::ScrubCursorStuck,
        Bug::ScrubSkipsAnchor,
        Bug::LanesByFirstPageOnly,
        Bug::TornTailKept,
        Bug::TrustDeclaredPairing,
        Bug::FullIsEndOfLife,
        Bug::EvictOnlyAtLimit,
        Bug::AcceptsMisfit,
        Bug::SalvageAnswersOlder,
        Bug::PackAtEveryRefusal,
        Bug::IoErrorIgnored,
        Bug::RecoveryUnbounded,
        Bug::FilterTagsUnchecked,
        Bug::GenerationsUnreserved,
        Bug::FormatFromGenerationOne,
        Bug::LossUnproven,
    ];
}

#[cfg(feature = "planted")]
thread_local! {
    static PLANTED: std::cell::Cell<Option<Bug>> = const { std::cell::Cell::new(None) };
}

/// Whether `bug` is planted on this thread.
#[inline(always)]
pub fn active(bug: Bug) -> bool {
    #[cfg(feature = "planted")]
    {
        PLANTED.with(|planted| planted.get() == Some(bug))
    }
    #[cfg(not(feature = "planted"))]
    {
        let _ = bug;
        false
    }
}

/// Plants `bug` on this thread (`None` removes it).
#[cfg(feature = "planted")]
pub fn plant(bug: Option<Bug>) {
    PLANTED.with(|planted| planted.set(bug));
}
