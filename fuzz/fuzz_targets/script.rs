//! The fuzz targets' script reader: each target reads its input as a script of operations and
//! arguments; past the end every read is zero, so any input is a valid script. Included by the
//! targets with `#[path]` (each target is its own binary); not every target reads every width.
#![allow(dead_code)]

/// Reads the script; past its end, every read is zero.
pub(crate) struct Script<'a>(pub(crate) &'a [u8]);

impl<'a> Script<'a> {
    pub(crate) fn byte(&mut self) -> u8 {
        match self.0.split_first() {
            Some((b, rest)) => {
                self.0 = rest;
                *b
            }
            None => 0,
        }
    }
    pub(crate) fn u16(&mut self) -> u16 {
        u16::from_le_bytes([self.byte(), self.byte()])
    }
    pub(crate) fn u32(&mut self) -> u32 {
        u32::from_le_bytes([self.byte(), self.byte(), self.byte(), self.byte()])
    }
    pub(crate) fn u64(&mut self) -> u64 {
        u64::from(self.u32()) << 32 | u64::from(self.u32())
    }
    pub(crate) fn bool(&mut self) -> bool {
        self.byte() & 1 == 1
    }
    /// `0..n` (n > 0).
    pub(crate) fn below(&mut self, n: usize) -> usize {
        usize::from(self.byte()) % n
    }
    pub(crate) fn bytes(&mut self, n: usize) -> &'a [u8] {
        let n = n.min(self.0.len());
        let (b, rest) = self.0.split_at(n);
        self.0 = rest;
        b
    }
    pub(crate) fn done(&self) -> bool {
        self.0.is_empty()
    }
}
