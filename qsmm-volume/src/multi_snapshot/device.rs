//! The device a volume reads and writes through: the medium itself in single-snapshot mode;
//! in multi-snapshot mode, writes in place paired with a slot (base volumes) or writes into
//! the slot queue (higher volumes), and reads that see queued blocks.

use qsmm_types::{BlockId, Result};
use qsmm_void::BlockDevice;

use crate::medium::Medium;

/// How a volume's writes reach the medium.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Class {
    /// Single-snapshot mode: in place.
    Single,
    /// Multi-snapshot mode, a volume whose root names no lower volume: in place, each write
    /// paired with one slot.
    Base,
    /// Multi-snapshot mode, a volume above others: only inside slots.
    Higher,
}

impl Class {
    /// Whether the volume is in multi-snapshot mode.
    pub(crate) fn is_multi(self) -> bool {
        self != Self::Single
    }
}

/// A volume's view of its medium.
pub(crate) struct VolumeDevice<'a> {
    medium: &'a Medium,
    class: Class,
}

impl<'a> VolumeDevice<'a> {
    pub(crate) fn new(medium: &'a Medium, class: Class) -> Self {
        Self { medium, class }
    }
}

impl BlockDevice for VolumeDevice<'_> {
    fn block_size(&self) -> usize {
        self.medium.device().block_size()
    }

    fn block_count(&self) -> u64 {
        self.medium.device().block_count()
    }

    fn read_block(&self, id: BlockId, buf: &mut [u8]) -> Result<()> {
        if self.class == Class::Higher && self.medium.read_queued(id.get(), buf) {
            return Ok(());
        }
        self.medium.device().read_block(id, buf)
    }

    fn write_block(&self, id: BlockId, data: &[u8]) -> Result<()> {
        match self.class {
            Class::Single => self.medium.device().write_block(id, data),
            Class::Base => {
                self.medium.device().write_block(id, data)?;
                self.medium.paired_slot()
            }
            Class::Higher => self.medium.enqueue(id.get(), data),
        }
    }

    fn flush(&self) -> Result<()> {
        self.medium.device().flush()
    }
}
