//! Drop counters shared between a device thread and the engine side.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use super::StreamFault;

/// What one stream has dropped or padded since it started.
///
/// For capture, an overrun is the device finding the ring full (the engine reads too slowly)
/// and an underrun the engine finding it short. For playback, an overrun is the engine finding
/// the ring full (its frame is dropped) and an underrun the device finding it short (silence
/// plays).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StreamStats {
    /// Times the writer found the ring full and dropped audio.
    pub overruns: u64,
    /// Times the reader found the ring short and used silence.
    pub underruns: u64,
    /// Xruns the device reported in its own buffer.
    pub xruns: u64,
    /// Other problems the device reported.
    pub errors: u64,
    /// Whether the device reported itself gone: the stream must be reopened.
    pub lost: bool,
}

#[derive(Debug, Default)]
pub(crate) struct Counters {
    overruns: AtomicU64,
    underruns: AtomicU64,
    xruns: AtomicU64,
    errors: AtomicU64,
    lost: AtomicBool,
}

impl Counters {
    pub(crate) fn overrun(&self) {
        self.overruns.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn underrun(&self) {
        self.underruns.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn fault(&self, fault: StreamFault) {
        match fault {
            StreamFault::Xrun => self.xruns.fetch_add(1, Ordering::Relaxed),
            StreamFault::Lost => {
                self.lost.store(true, Ordering::Relaxed);
                self.errors.fetch_add(1, Ordering::Relaxed)
            }
            StreamFault::Other => self.errors.fetch_add(1, Ordering::Relaxed),
        };
    }

    pub(crate) fn snapshot(&self) -> StreamStats {
        StreamStats {
            overruns: self.overruns.load(Ordering::Relaxed),
            underruns: self.underruns.load(Ordering::Relaxed),
            xruns: self.xruns.load(Ordering::Relaxed),
            errors: self.errors.load(Ordering::Relaxed),
            lost: self.lost.load(Ordering::Relaxed),
        }
    }
}
