//! Generates a signing key: `cargo run --example keygen -- --kty RSA|EC|OKP|oct
//! [--bits 2048|3072|4096] [--crv P-256|P-384|Ed25519] [--kid K]`.
//!
//! Prints `{"private_jwk": …, "public_jwks": {"keys": […]}}`: keep the private JWK
//! secret (it loads into `LocalIssuer::new`), publish the set (it loads into
//! `StaticKeys::from_jwks`). Without `--kid`, the kid is the key's RFC 7638 thumbprint.

use tower_bearer::issue::{IssuerKey, KeyType};

fn main() {
    if let Err(e) = run() {
        eprintln!("keygen: {e}");
        eprintln!("usage: keygen --kty RSA|EC|OKP|oct [--bits 2048|3072|4096] [--crv P-256|P-384|Ed25519] [--kid K]");
        std::process::exit(2);
    }
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let (mut kty, mut bits, mut crv, mut kid) = (None, None, None, None);
    while let Some(flag) = args.next() {
        let value = args.next().ok_or_else(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--kty" => kty = Some(value),
            "--bits" => bits = Some(value.parse::<u32>().map_err(|_| format!("--bits {value:?} is not a number"))?),
            "--crv" => crv = Some(value),
            "--kid" => kid = Some(value),
            other => return Err(format!("unknown flag {other}").into()),
        }
    }
    let kty = KeyType::from_parts(kty.as_deref().unwrap_or("RSA"), bits, crv.as_deref())?;
    let key = IssuerKey::generate(kty, kid.as_deref())?;
    let out = serde_json::json!({ "private_jwk": key.private_jwk().as_map(), "public_jwks": key.public_jwks() });
    println!("{}", serde_json::to_string_pretty(&out)?);
    Ok(())
}
