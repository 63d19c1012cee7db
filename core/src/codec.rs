//! Little-endian encoding of the on-flash records, with bounds-checked
//! decoding: a short or malformed buffer gives a [`DecodeError`], never a
//! panic.

/// Why bytes could not be decoded.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("truncated: needed {needed} bytes at offset {offset}, {available} available")]
    Truncated {
        offset: usize,
        needed: usize,
        available: usize,
    },
    #[error("invalid {what}: {value}")]
    Invalid { what: &'static str, value: u64 },
}

/// Appends little-endian values to a buffer.
#[derive(Clone, Debug, Default)]
pub(crate) struct Writer {
    pub(crate) bytes: Vec<u8>,
}

impl Writer {
    /// A writer whose buffer holds `bytes` before it grows.
    pub(crate) fn with_capacity(bytes: usize) -> Self {
        Writer {
            bytes: Vec::with_capacity(bytes),
        }
    }

    pub(crate) fn u8(&mut self, value: u8) -> &mut Self {
        self.bytes.push(value);
        self
    }
    pub(crate) fn u16(&mut self, value: u16) -> &mut Self {
        self.bytes.extend_from_slice(&value.to_le_bytes());
        self
    }
    pub(crate) fn u32(&mut self, value: u32) -> &mut Self {
        self.bytes.extend_from_slice(&value.to_le_bytes());
        self
    }
    pub(crate) fn u64(&mut self, value: u64) -> &mut Self {
        self.bytes.extend_from_slice(&value.to_le_bytes());
        self
    }
    pub(crate) fn raw(&mut self, value: &[u8]) -> &mut Self {
        self.bytes.extend_from_slice(value);
        self
    }
}

/// Reads little-endian values from a buffer, checking every bound.
#[derive(Debug)]
pub(crate) struct Reader<'a> {
    bytes: &'a [u8],
    offset: usize,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(bytes: &'a [u8]) -> Self {
        Reader { bytes, offset: 0 }
    }

    pub(crate) fn remaining(&self) -> usize {
        self.bytes.len() - self.offset
    }

    pub(crate) fn raw(&mut self, len: usize) -> Result<&'a [u8], DecodeError> {
        if self.remaining() < len {
            return Err(DecodeError::Truncated {
                offset: self.offset,
                needed: len,
                available: self.remaining(),
            });
        }
        let slice = &self.bytes[self.offset..self.offset + len];
        self.offset += len;
        Ok(slice)
    }

    pub(crate) fn array<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.raw(N)?);
        Ok(out)
    }

    pub(crate) fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(self.raw(1)?[0])
    }
    pub(crate) fn u16(&mut self) -> Result<u16, DecodeError> {
        Ok(u16::from_le_bytes(self.array()?))
    }
    pub(crate) fn u32(&mut self) -> Result<u32, DecodeError> {
        Ok(u32::from_le_bytes(self.array()?))
    }
    pub(crate) fn u64(&mut self) -> Result<u64, DecodeError> {
        Ok(u64::from_le_bytes(self.array()?))
    }
}

/// The error a [`Reader`] gives reading fields of `widths` bytes, in
/// order, from the first `len` bytes of a record: the field `len` cuts.
#[cfg(test)]
pub(crate) fn truncated_at(widths: &[usize], len: usize) -> DecodeError {
    let (offset, needed) = widths
        .iter()
        .scan(0, |end, &width| {
            let start = *end;
            *end += width;
            Some((start, width))
        })
        .find(|&(start, width)| len < start + width)
        .expect("a field past the cut");
    DecodeError::Truncated {
        offset,
        needed,
        available: len - offset,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_truncation() {
        let mut w = Writer::default();
        w.u8(1).u16(2).u32(3).u64(4).raw(&[9, 9]);
        let mut r = Reader::new(&w.bytes);
        assert_eq!(r.u8(), Ok(1));
        assert_eq!(r.u16(), Ok(2));
        assert_eq!(r.u32(), Ok(3));
        assert_eq!(r.u64(), Ok(4));
        assert_eq!(r.raw(2), Ok(&[9u8, 9][..]));
        assert_eq!(
            r.u8(),
            Err(DecodeError::Truncated {
                offset: 17,
                needed: 1,
                available: 0
            })
        );
    }

    /// The test helper names the field a cut falls in: its offset, its
    /// width and the bytes of it that are there.
    #[test]
    fn truncated_at_names_the_field_a_cut_falls_in() {
        let widths = [2, 4, 1];
        assert_eq!(
            truncated_at(&widths, 0),
            DecodeError::Truncated {
                offset: 0,
                needed: 2,
                available: 0
            }
        );
        assert_eq!(
            truncated_at(&widths, 5),
            DecodeError::Truncated {
                offset: 2,
                needed: 4,
                available: 3
            }
        );
        assert_eq!(
            truncated_at(&widths, 6),
            DecodeError::Truncated {
                offset: 6,
                needed: 1,
                available: 0
            }
        );
    }
}
