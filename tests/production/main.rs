//! Running it in production: metrics, RFC 9728 metadata, readiness, persisted keys,
//! streams that end at expiry, `explain`, provider presets. One test binary for all
//! of them (one link instead of one per file: the test build is mostly linking).

#[path = "../common/mod.rs"]
mod common;
// The gRPC service of examples/grpc_items (metadata and streams both serve it).
#[path = "../../examples/grpc_items/service.rs"]
#[allow(dead_code)]
mod service;

mod explain;
mod metadata;
mod metrics;
mod persisted_keys;
mod profiles;
mod readiness;
mod streams;
