//! Tests of the geometry and the flash helpers.

use super::*;

/// Undoing a program clears that page alone and puts the write
/// pointer back.
#[test]
fn unprogram_clears_one_page_and_the_pointer() {
    let g = Geometry::new(512, 8, 4).unwrap();
    let mut states = PageStates::erased(g);
    let block = BlockAddr(1);
    for page in 0..3 {
        states.mark_programmed(PageAddr { block, page });
    }
    states.unprogram(PageAddr { block, page: 2 }, 2);
    assert!(!states.is_programmed(PageAddr { block, page: 2 }));
    for page in 0..2 {
        assert!(states.is_programmed(PageAddr { block, page }));
    }
    assert_eq!(states.write_pointer(block), 2);
}

/// ECC needs both a step and a strength: without either, no parity.
#[test]
fn parity_takes_the_smallest_field_that_holds_data_and_parity() {
    // 128 data bits and 20 bits of strength: GF(2^8) holds 128 + 8 + 20
    // bits but not 128 + 8 * 20; GF(2^9) holds 128 + 9 * 20.
    let plain = Geometry::new(2048, 64, 8).unwrap();
    let g = Geometry {
        spare_bytes: 4096,
        ecc_step_bytes: 16,
        ecc_bits: 20,
        ..plain
    };
    assert_eq!(g.ecc_parity_bytes(), Some((9 * 20u32).div_ceil(8)));
    // 512 bytes, t = 8: GF(2^13), 13 bytes, as Linux's BCH-8 on 512.
    let g = Geometry {
        ecc_step_bytes: 512,
        ecc_bits: 8,
        ..g
    };
    assert_eq!(g.ecc_parity_bytes(), Some(13));
}

#[test]
fn an_ecc_too_strong_or_a_step_out_of_range_does_not_fit_whatever_the_spare() {
    let plain = Geometry::new(2048, 64, 8).unwrap();
    // Room for any parity: only the strength and the step decide.
    let ecc = |ecc_step_bytes, ecc_bits| Geometry {
        spare_bytes: 60_000,
        ecc_step_bytes,
        ecc_bits,
        ..plain
    };
    assert!(ecc(512, ECC_BITS_MAX).ecc_fits());
    assert!(!ecc(512, ECC_BITS_MAX + 1).ecc_fits());
    assert!(!ecc(8, 4).ecc_fits());
    assert!(!ecc(4096, 4).ecc_fits());
    assert!(!ecc(384, 4).ecc_fits());
}

#[test]
fn parity_needs_a_step_and_a_strength() {
    let g = Geometry::new(2048, 64, 8)
        .unwrap()
        .with_ecc(64, 512, 4)
        .unwrap();
    assert!(g.ecc_parity_bytes().is_some_and(|bytes| bytes > 0));
    let no_bits = Geometry { ecc_bits: 0, ..g };
    let no_step = Geometry {
        ecc_step_bytes: 0,
        ..g
    };
    assert_eq!(no_bits.ecc_parity_bytes(), None);
    assert_eq!(no_step.ecc_parity_bytes(), None);
}

fn geometry() -> Geometry {
    Geometry::new(512, 8, 4).unwrap()
}

#[test]
fn geometry_limits_are_enforced() {
    assert!(Geometry::new(512, 8, 4).is_ok());
    for (page, ppb, blocks) in [
        (500, 8, 4),
        (32, 8, 4),
        (1 << 17, 8, 4),
        (512, 0, 4),
        (512, 8, 0),
    ] {
        let geometry = Geometry {
            page_bytes: page,
            pages_per_block: ppb,
            blocks,
            ..geometry()
        };
        assert_eq!(
            Geometry::new(page, ppb, blocks).unwrap_err().to_string(),
            FlashError::BadGeometry { geometry }.to_string(),
            "{page} {ppb} {blocks}"
        );
    }
}

/// A step too large for any field up to GF(2^16) has no parity slot:
/// 8 KiB of data is 2^16 bits alone.
#[test]
fn no_parity_when_no_field_holds_the_codeword() {
    let g = Geometry {
        spare_bytes: 4096,
        ecc_step_bytes: 8192,
        ecc_bits: 1,
        ..Geometry::new(8192, 64, 8).unwrap()
    };
    assert_eq!(g.ecc_parity_bytes(), None);
    assert!(g.validate().is_err());
    let half = Geometry {
        ecc_step_bytes: 4096,
        ..g
    };
    assert_eq!(half.ecc_parity_bytes(), Some(2));
}

/// A broken rule's message names the page and the rule, its numbers
/// included; a bad block's names the block and the operation.
#[test]
fn errors_name_the_page_the_rule_and_the_operation() {
    let page = PageAddr::new(1, 2);
    for (rule, told) in [
        (Rule::ProgramTwice, "page programmed twice without an erase".to_string()),
        (
            Rule::ProgramOutOfOrder { next_page: 3 },
            "pages of a block must be programmed in increasing order (lowest programmable page is 3)"
                .to_string(),
        ),
        (
            Rule::BufferLength {
                expected: 512,
                actual: 100,
            },
            "buffer of 100 bytes, a page is 512".to_string(),
        ),
    ] {
        assert_eq!(
            FlashError::Violation { rule, page }.to_string(),
            format!("flash rule violated at block 1 page 2: {told}")
        );
    }
    for (op, name) in [
        (FlashOp::Read, "read"),
        (FlashOp::Program, "program"),
        (FlashOp::Erase, "erase"),
    ] {
        let block = BlockAddr(4);
        assert_eq!(
            FlashError::BadBlock { block, op }.to_string(),
            format!("block 4 is bad: {name} failed")
        );
    }
}

#[test]
fn page_index_round_trips() {
    let g = geometry();
    for index in 0..g.pages() {
        assert_eq!(g.page_index(g.page_at(index)), index);
    }
}

#[test]
fn program_rules() {
    let g = geometry();
    let mut states = PageStates::erased(g);
    let page = |p| PageAddr::new(1, p);
    assert_eq!(states.check_program(page(2)), Ok(()));
    states.mark_programmed(page(2));
    assert_eq!(states.check_program(page(2)), Err(Rule::ProgramTwice));
    assert_eq!(
        states.check_program(page(1)),
        Err(Rule::ProgramOutOfOrder { next_page: 3 })
    );
    assert_eq!(states.check_program(page(3)), Ok(()));
    assert_eq!(states.check_program(PageAddr::new(0, 0)), Ok(()));
    states.mark_erased(BlockAddr(1));
    assert_eq!(states.check_program(page(0)), Ok(()));
}

#[cfg(feature = "testing")]
#[test]
fn block_state_restores() {
    let mut states = PageStates::erased(geometry());
    states.mark_programmed(PageAddr::new(1, 2));
    let saved = states.block_state(BlockAddr(1));
    states.mark_erased(BlockAddr(1));
    assert_eq!(states.check_program(PageAddr::new(1, 0)), Ok(()));
    states.restore_block(BlockAddr(1), &saved);
    assert_eq!(
        states.check_program(PageAddr::new(1, 2)),
        Err(Rule::ProgramTwice)
    );
}

#[test]
fn states_from_pages() {
    let g = geometry();
    let mut image = vec![ERASED; g.device_bytes() as usize];
    image[g.page_offset(PageAddr::new(2, 5)) as usize + 7] = 0;
    let states = PageStates::from_pages(g, image.chunks(g.page_bytes as usize));
    assert!(states.is_programmed(PageAddr::new(2, 5)));
    assert_eq!(states.write_pointer(BlockAddr(2)), 6);
    assert_eq!(states.write_pointer(BlockAddr(1)), 0);
}

/// `is_erased` is true only when every byte is 0xFF: a byte of any other
/// value at any position of a buffer of any length up to three 64-byte
/// steps and a tail is seen.
#[test]
fn is_erased_sees_every_byte() {
    for len in 0..200 {
        let mut bytes = vec![ERASED; len];
        assert!(is_erased(&bytes), "len {len}");
        for at in 0..len {
            for value in [0x00, 0x7F, 0xFE] {
                bytes[at] = value;
                assert!(!is_erased(&bytes), "len {len}, {value:#x} at {at}");
            }
            bytes[at] = ERASED;
        }
    }
}
