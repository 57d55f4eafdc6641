//! `tower-bearer mint`: a signed access token from a private JWK, for local development.

use std::hash::BuildHasher as _;
use std::path::PathBuf;
use std::time::Duration;

use serde_json::{Map, Value, json};
use tower_bearer::Algorithm;
use tower_bearer::signing::{PrivateJwk, compact_jws};

use crate::Failure;
use crate::keygen::parse_alg;
use crate::show::{now, parse_duration};

const EXAMPLES: &str = "\
Examples:
  tower-bearer keygen --private-out key.jwk --public-out jwks.json
  tower-bearer mint --key key.jwk --issuer https://auth.example.com --audience orders-api \\
      --subject alice --scope orders:read --scope orders:write --ttl 15m
  tower-bearer mint --key key.jwk --issuer http://localhost:8080 --audience api \\
      --claim 'roles=[\"admin\"]' --claim tid=contoso --typ JWT

The token is printed on stdout alone, for `TOKEN=$(tower-bearer mint …)`. It carries
iss, sub, aud, client_id, iat, exp and jti (RFC 9068 §2.2), plus scope and the --claim
values; the header has alg, kid (the JWK's) and typ.";

/// Mint a signed token from a private JWK (local development).
#[derive(clap::Args)]
#[command(
    long_about = "Signs an access token with a private JWK (from `tower-bearer keygen`, or any RSA, EC, \
                  OKP or oct JWK) for local development and tests. It signs whatever it is told to: \
                  never hand it a production key.",
    after_long_help = EXAMPLES
)]
pub(crate) struct Args {
    /// The private JWK file (a JWK, or keygen's output with a `private_jwk` member).
    #[arg(long, value_name = "FILE")]
    key: PathBuf,
    /// `iss`: the issuer the verifier trusts.
    #[arg(long)]
    issuer: String,
    /// `aud`: repeat for several audiences.
    #[arg(long = "audience", value_name = "AUD", required = true)]
    audiences: Vec<String>,
    /// `sub`.
    #[arg(long, default_value = "dev-user")]
    subject: String,
    /// `client_id` (RFC 9068 §2.2).
    #[arg(long, default_value = "tower-bearer-cli")]
    client_id: String,
    /// A scope, added to the space-separated `scope`; repeat for more.
    #[arg(long = "scope", value_name = "SCOPE")]
    scopes: Vec<String>,
    /// Any claim, NAME=VALUE: VALUE is JSON when it parses (`n=5`, `roles=["a"]`), else a
    /// string. Repeat for more; it replaces a claim set by the other options.
    #[arg(long = "claim", value_name = "NAME=VALUE", value_parser = parse_claim)]
    claims: Vec<(String, Value)>,
    /// Lifetime: `exp` = `iat` + TTL (e.g. 300, 90s, 15m, 1h).
    #[arg(long, default_value = "5m", value_parser = parse_duration)]
    ttl: Duration,
    /// `typ` header: `at+jwt` (RFC 9068 access token) or `JWT`.
    #[arg(long, default_value = "at+jwt", value_parser = ["at+jwt", "JWT"])]
    typ: String,
    /// The algorithm; default: the JWK's `alg`, else the one its key type implies.
    #[arg(long, value_parser = parse_alg)]
    alg: Option<Algorithm>,
}

fn parse_claim(text: &str) -> Result<(String, Value), String> {
    let (name, value) = text.split_once('=').ok_or_else(|| format!("{text:?} is not NAME=VALUE"))?;
    if name.is_empty() {
        return Err(format!("{text:?}: the claim name is empty"));
    }
    let value = serde_json::from_str(value).unwrap_or_else(|_| Value::String(value.to_owned()));
    Ok((name.to_owned(), value))
}

pub(crate) fn run(args: Args) -> Result<(), Failure> {
    let key = read_key(&args.key)?;
    let alg = match args.alg {
        Some(alg) => alg,
        None => implied_alg(&key)?,
    };
    let mut header = Map::new();
    header.insert("alg".into(), json!(format!("{alg:?}")));
    header.insert("typ".into(), json!(args.typ));
    if let Some(kid) = key.kid() {
        header.insert("kid".into(), json!(kid));
    }
    let iat = now();
    let mut claims = Map::new();
    claims.insert("iss".into(), json!(args.issuer));
    claims.insert("sub".into(), json!(args.subject));
    let aud = match args.audiences.as_slice() {
        [one] => json!(one),
        many => json!(many),
    };
    claims.insert("aud".into(), aud);
    claims.insert("client_id".into(), json!(args.client_id));
    claims.insert("iat".into(), json!(iat));
    claims.insert("exp".into(), json!(iat.saturating_add(args.ttl.as_secs())));
    claims.insert("jti".into(), json!(jti(iat)));
    if !args.scopes.is_empty() {
        claims.insert("scope".into(), json!(args.scopes.join(" ")));
    }
    claims.extend(args.claims);
    let (header, claims) = (Value::Object(header).to_string(), Value::Object(claims).to_string());
    let mut failed = None;
    let token = compact_jws(&header, &claims, |input| {
        key.sign(alg, input).unwrap_or_else(|e| {
            failed = Some(e);
            Vec::new()
        })
    });
    if let Some(e) = failed {
        return Err(Failure::usage(format!("signing as {alg:?}: {e}")));
    }
    println!("{token}");
    Ok(())
}

/// The private JWK in `path`: a JWK, or an object with a `private_jwk` member.
pub(crate) fn read_key(path: &std::path::Path) -> Result<PrivateJwk, Failure> {
    let text =
        std::fs::read_to_string(path).map_err(|e| Failure::usage(format!("cannot read {}: {e}", path.display())))?;
    let doc: Value =
        serde_json::from_str(&text).map_err(|e| Failure::usage(format!("{} is not JSON: {e}", path.display())))?;
    let jwk = match doc {
        Value::Object(mut map) => match map.remove("private_jwk") {
            Some(Value::Object(inner)) => inner,
            _ => map,
        },
        _ => return Err(Failure::usage(format!("{} is not a JWK (a JSON object)", path.display()))),
    };
    PrivateJwk::from_map(jwk).map_err(|e| Failure::usage(format!("{}: {e}", path.display())))
}

/// The JWK's `alg`, or the algorithm its key type implies.
fn implied_alg(key: &PrivateJwk) -> Result<Algorithm, Failure> {
    if let Some(alg) = key.alg() {
        return parse_alg(alg).map_err(Failure::usage);
    }
    match (key.kty(), key.crv()) {
        ("RSA", _) => Ok(Algorithm::RS256),
        ("EC", Some("P-256")) => Ok(Algorithm::ES256),
        ("EC", Some("P-384")) => Ok(Algorithm::ES384),
        ("OKP", Some("Ed25519")) => Ok(Algorithm::EdDSA),
        ("oct", _) => Ok(Algorithm::HS256),
        (kty, crv) => Err(Failure::usage(format!("no algorithm for a {kty} key (crv {crv:?}): give --alg"))),
    }
}

/// A token id unique enough for local tokens: the time and a per-process random hash.
fn jti(iat: u64) -> String {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
    let noise = std::hash::RandomState::new().hash_one((iat, nanos, std::process::id()));
    format!("{iat:x}-{noise:016x}")
}
