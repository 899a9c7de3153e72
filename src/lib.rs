#![deny(clippy::all)]
//! rust-cluster: the native core behind the Node-shaped facade in `lib/`.
//! See docs/internals.md for how the modules fit together.

mod cluster;
mod env_loop;
mod id_map;
mod ipc;
mod napi_cluster;
mod napi_constants;
mod napi_events;
mod napi_ipc;
mod napi_process;
mod owner;
mod reactor;
mod spawn;
mod spawn_sync;
mod sys;
