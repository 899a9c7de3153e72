//! Numbers JS and Rust must agree on. Each is defined once, beside the Rust code that uses it,
//! and exported here as a JS constant for lib/ to use.
// napi-derive registers exports only outside cfg(test), so unit-test builds see them unused.
#![cfg_attr(test, allow(dead_code))]
use crate::cluster::{listen, scheduler};
use crate::ipc::v8;
use crate::napi_events;
use napi_derive::napi;

/// The largest IPC message, in bytes, when `maxMessageSize` is not given: 64 MiB.
#[napi]
pub const DEFAULT_MAX_MESSAGE_SIZE: u32 = crate::spawn::DEFAULT_MAX_MESSAGE_SIZE as u32;

/// The listen backlog when none is given: Node's 511.
#[napi]
pub const DEFAULT_BACKLOG: u32 = listen::DEFAULT_BACKLOG as u32;

/// How many times a handle that arrived without its descriptor (NACK) is sent again before the
/// sender gives up: Node's 3.
#[napi]
pub const MAX_HANDLE_RETRANSMISSIONS: u32 = scheduler::MAX_RESENDS as u32;

/// The V8 serialization format version that the hand-written codecs (src/ipc/v8.rs, the fast
/// reader in lib/internal/ipc/serialization.js) read and write: Node 20's, 15.
#[napi]
pub const V8_FORMAT_VERSION: u32 = v8::VERSION as u32;

/// The kinds of the flat events, `kind, id, a, b` (src/napi_events.rs, docs/internals.md).
#[napi]
pub const EVENT_EXIT: u32 = napi_events::EXIT;
#[napi]
pub const EVENT_DATA: u32 = napi_events::DATA;
#[napi]
pub const EVENT_DRAIN: u32 = napi_events::DRAIN;
#[napi]
pub const EVENT_ERROR: u32 = napi_events::ERROR;
#[napi]
pub const EVENT_CLOSE: u32 = napi_events::CLOSE;
#[napi]
pub const EVENT_FATAL: u32 = napi_events::FATAL;
#[napi]
pub const EVENT_STOPPED: u32 = napi_events::STOPPED;
