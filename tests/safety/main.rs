//! Safety rules: known attacks, the audit's findings, limits, redaction, nothing secret
//! in logs, misconfigurations that say so, refused URLs, the token cache's rules,
//! property tests, the dependency graph. One test binary for all of them (one link
//! instead of one per file: the test build is mostly linking).
//!
//! Log captures (`common::logs::Capture`) are per thread (`set_default`), so they
//! see only their own test while other tests run beside them.

#[path = "../common/mod.rs"]
mod common;

mod attacks;
mod audit;
mod cache;
mod dependencies;
mod limits;
mod misconfiguration;
mod no_leaks;
mod properties;
mod redaction;
mod url_errors;
