//! `tower-bearer keygen`: a fresh signing key as a private JWK, and the public JWK set
//! to publish.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use serde_json::{Value, json};
use tower_bearer::Algorithm;
use tower_bearer::signing::PrivateJwk;

use crate::Failure;

const EXAMPLES: &str = "\
Examples:
  tower-bearer keygen                                  # RS256, JSON with both halves on stdout
  tower-bearer keygen --alg ES256 --kid signing-2026
  tower-bearer keygen --alg EdDSA --private-out key.jwk --public-out jwks.json

The private JWK signs tokens (`tower-bearer mint --key key.jwk`, LocalIssuer::new);
keep it secret. The public set is what an issuer serves at its jwks_uri
(StaticKeys::from_jwks, RemoteJwks). An HS* key is a shared secret: it has no
public half, and verifiers load the private JWK itself (StaticKeys::from_jwks).";

/// Generate a signing key: a private JWK and the public JWK set.
#[derive(clap::Args)]
#[command(
    long_about = "Generates a signing key with the crate's own crypto backend (aws-lc-rs, or the \
                  RustCrypto crates): no OpenSSL. Prints {\"private_jwk\": …, \"public_jwks\": {\"keys\": […]}} \
                  unless --private-out/--public-out write the halves to files. RSA keys are 2048 bits, \
                  ES256 uses P-256, ES384 P-384, EdDSA Ed25519, HS* 64 random bytes.",
    after_long_help = EXAMPLES
)]
pub(crate) struct Args {
    /// The JWS algorithm the key signs: RS256, RS384, RS512, PS256, PS384, PS512, ES256,
    /// ES384, EdDSA, HS256, HS384 or HS512.
    #[arg(long, default_value = "RS256", value_parser = parse_alg)]
    alg: Algorithm,
    /// The key id; default: the key's RFC 7638 thumbprint.
    #[arg(long)]
    kid: Option<String>,
    /// Write the private JWK to this file (created with mode 0600; never overwritten).
    #[arg(long, value_name = "FILE")]
    private_out: Option<PathBuf>,
    /// Write the public JWK set to this file (never overwritten).
    #[arg(long, value_name = "FILE")]
    public_out: Option<PathBuf>,
}

/// A JWS algorithm name as JOSE spells it.
pub(crate) fn parse_alg(name: &str) -> Result<Algorithm, String> {
    name.parse::<Algorithm>().map_err(|_| {
        format!(
            "unknown algorithm {name:?}: use RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384, EdDSA or HS256…"
        )
    })
}

pub(crate) fn run(args: Args) -> Result<(), Failure> {
    let mut key = PrivateJwk::generate(args.alg, "").map_err(|e| Failure::usage(format!("key generation: {e}")))?;
    let kid = match args.kid {
        Some(kid) => kid,
        None => key.thumbprint().ok_or_else(|| Failure::usage("the generated key has no thumbprint"))?,
    };
    key.set("kid", Value::String(kid));
    let public_jwks = json!({ "keys": key.public().map(Value::Object).into_iter().collect::<Vec<_>>() });
    let private_jwk = Value::Object(key.into_map());
    if args.private_out.is_none() && args.public_out.is_none() {
        let both = json!({ "private_jwk": private_jwk, "public_jwks": public_jwks });
        println!("{}", pretty(&both));
        return Ok(());
    }
    match &args.private_out {
        Some(path) => write_new(path, &pretty(&private_jwk), true)?,
        None => println!("{}", pretty(&json!({ "private_jwk": private_jwk }))),
    }
    match &args.public_out {
        Some(path) => write_new(path, &pretty(&public_jwks), false)?,
        None => println!("{}", pretty(&json!({ "public_jwks": public_jwks }))),
    }
    Ok(())
}

fn pretty(value: &Value) -> String {
    serde_json::to_string_pretty(value).unwrap_or_else(|_| value.to_string())
}

/// Creates `path` (refusing to replace a file), readable by its owner only when `secret`.
fn write_new(path: &Path, text: &str, secret: bool) -> Result<(), Failure> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    if secret {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    #[cfg(not(unix))]
    let _ = secret;
    let mut file = options.open(path).map_err(|e| Failure::usage(format!("cannot create {}: {e}", path.display())))?;
    writeln!(file, "{text}").map_err(|e| Failure::usage(format!("cannot write {}: {e}", path.display())))?;
    eprintln!("wrote {}", path.display());
    Ok(())
}
