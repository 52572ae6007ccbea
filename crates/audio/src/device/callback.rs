//! The device-thread halves of the pipelines: format conversion and ring hand-off only. They
//! never allocate, lock or block; shortfalls are counted in atomics.

use std::sync::Arc;

use rtrb::{Consumer, Producer};

use super::stats::Counters;
use super::{InputData, OutputData, StreamError};

/// Downmixes each captured frame to mono and pushes it, dropping what doesn't fit.
pub(super) fn capture(
    channels: u16,
    mut ring: Producer<f32>,
    counters: Arc<Counters>,
) -> InputData {
    let channels = usize::from(channels.max(1));
    let scale = 1.0 / channels as f32;
    Box::new(move |data: &[f32]| {
        let frames = data.len() / channels;
        let fits = frames.min(ring.slots());
        if let Ok(chunk) = ring.write_chunk_uninit(fits) {
            let mono = data
                .chunks_exact(channels)
                .map(|frame| frame.iter().sum::<f32>() * scale);
            chunk.fill_from_iter(mono);
        }
        if fits < frames {
            counters.overrun();
        }
    })
}

/// Pops mono samples into every channel of each frame, padding with silence when short.
pub(super) fn playback(
    channels: u16,
    mut ring: Consumer<f32>,
    counters: Arc<Counters>,
) -> OutputData {
    let channels = usize::from(channels.max(1));
    Box::new(move |out: &mut [f32]| {
        let frames = out.len() / channels;
        let available = frames.min(ring.slots());
        if let Ok(chunk) = ring.read_chunk(available) {
            let (first, second) = chunk.as_slices();
            for (frame, &sample) in out
                .chunks_exact_mut(channels)
                .zip(first.iter().chain(second))
            {
                frame.fill(sample);
            }
            chunk.commit_all();
        }
        out[available * channels..].fill(0.0);
        if available < frames {
            counters.underrun();
        }
    })
}

/// Counts the stream's reported problems.
pub(super) fn error(counters: Arc<Counters>) -> StreamError {
    Box::new(move |fault| counters.fault(fault))
}
