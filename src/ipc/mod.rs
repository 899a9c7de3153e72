//! IPC channel mechanics: framing, socket I/O with descriptor passing, per-channel buffers.
pub mod channel;
pub mod framing;
pub mod v8;

/// How frames on a channel are delimited.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Serialization {
    Json,
    Advanced,
}
