//! What a user's build pulls in: the test kit needs no system library. `testing`
//! signs with the crate's own crypto backend, so neither josekit nor OpenSSL
//! (`openssl-sys`, which needs libssl-dev and pkg-config) may appear in its graph; nor
//! in the command-line tool's (`cli`).

use std::process::Command;

/// The normal (non-dev) dependency graph for these feature flags, one crate a line.
fn normal_dependencies(flags: &[&str]) -> String {
    let out = Command::new(env!("CARGO"))
        .args(["tree", "--offline", "-e", "normal", "--prefix", "none", "--manifest-path"])
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml"))
        .args(flags)
        .output()
        .expect("run cargo tree");
    assert!(out.status.success(), "cargo tree {flags:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

#[track_caller]
fn assert_no_system_crypto(flags: &[&str]) {
    let tree = normal_dependencies(flags);
    assert!(tree.contains("tower-bearer "), "cargo tree listed the crate: {tree}");
    for line in tree.lines() {
        let name = line.split_whitespace().next().unwrap_or_default();
        assert!(!["josekit", "openssl", "openssl-sys"].contains(&name), "{flags:?} pulls {line}");
    }
}

#[test]
fn testing_with_default_features_pulls_no_openssl() {
    assert_no_system_crypto(&["--features", "testing"]);
}

#[test]
fn testing_with_rust_crypto_pulls_no_openssl() {
    assert_no_system_crypto(&["--no-default-features", "--features", "rust-crypto,remote,testing"]);
}

#[test]
fn testing_with_aws_lc_rs_alone_pulls_no_openssl() {
    assert_no_system_crypto(&["--no-default-features", "--features", "aws-lc-rs,testing"]);
}

/// `cargo install tower-bearer --features cli` needs no libssl-dev: the command signs
/// with the crate's own backend.
#[test]
fn cli_pulls_no_openssl() {
    assert_no_system_crypto(&["--features", "cli"]);
    assert_no_system_crypto(&["--no-default-features", "--features", "rust-crypto,cli"]);
}

/// clap is the command's alone: the library's default build does not compile it.
#[test]
fn default_features_pull_no_clap() {
    let tree = normal_dependencies(&[]);
    assert!(tree.contains("tower-bearer "), "{tree}");
    assert!(!tree.lines().any(|l| l.starts_with("clap")), "{tree}");
    assert!(normal_dependencies(&["--features", "cli"]).lines().any(|l| l.starts_with("clap ")));
}

/// `issuer` keeps josekit for key generation: the check above is not vacuous.
#[test]
fn issuer_still_uses_josekit() {
    let tree = normal_dependencies(&["--features", "issuer"]);
    assert!(tree.lines().any(|l| l.starts_with("josekit ")), "{tree}");
}
