//! Record framing (see docs/formats/extent.md).

/// Frame header + trailer bytes around a payload.
pub const FRAME_OVERHEAD_BYTES: usize = 16;
