pub mod channel;
pub mod framing;
