//! `tower-bearer jwks`: an issuer's key set as the crate's key store sees it.

use tower_bearer::keys::{JwksReport, KeyError, RemoteJwks};

use crate::Failure;
use crate::show::duration;

const EXAMPLES: &str = "\
Examples:
  tower-bearer jwks https://sso.example.com/realms/main          # an issuer: discovery
  tower-bearer jwks https://www.googleapis.com/oauth2/v3/certs   # a JWKS URL
  tower-bearer jwks http://localhost:8080                        # http:// only on loopback

For an issuer, its jwks_uri is found at <issuer>/.well-known/openid-configuration, then
at RFC 8414's /.well-known/oauth-authorization-server<issuer path>; when neither
answers, the argument is fetched as a JWKS URL itself. Each key is reported usable
(with the algorithms it may verify) or skipped with the reason, by the same parser the
layer uses. Exit code 0 when at least one key is usable.";

/// Show an issuer's key set: usable and skipped keys, cache headers, cache TTL.
#[derive(clap::Args)]
#[command(
    long_about = "Fetches an issuer's JWK set the way RemoteJwks does (discovery, HTTPS except on \
                  loopback, no redirects, 5 s timeout, 1 MiB cap) and prints which keys are usable and \
                  which are skipped and why, the caching headers (Cache-Control, ETag, Last-Modified, \
                  Age, Expires) and the TTL the key cache would use.",
    after_long_help = EXAMPLES
)]
pub(crate) struct Args {
    /// An issuer URL (discovery) or a JWKS URL.
    #[arg(value_name = "ISSUER_OR_URL")]
    source: String,
    /// Fetch the argument as a JWKS URL, without trying discovery first.
    #[arg(long)]
    no_discovery: bool,
    /// Allow plain http:// off loopback (RemoteJwksBuilder::dangerous_allow_http).
    #[arg(long)]
    allow_http: bool,
}

pub(crate) async fn run(args: Args) -> Result<(), Failure> {
    let mut errors = Vec::new();
    if !args.no_discovery {
        match fetch(RemoteJwks::builder().discovery(&args.source), args.allow_http).await {
            Ok(report) => return print(&report, Some(&args.source)),
            Err(e) => errors.push(format!("as an issuer (discovery): {e}")),
        }
    }
    match fetch(RemoteJwks::builder().jwks_url(&args.source), args.allow_http).await {
        Ok(report) => {
            for e in &errors {
                println!("note: {e}");
            }
            print(&report, None)
        }
        Err(e) => {
            errors.push(format!("as a JWKS URL: {e}"));
            Err(Failure::no(format!("no key set at {}:\n  {}", args.source, errors.join("\n  "))))
        }
    }
}

async fn fetch(builder: tower_bearer::keys::RemoteJwksBuilder, allow_http: bool) -> Result<JwksReport, String> {
    let store = builder.dangerous_allow_http(allow_http).build().map_err(|e| e.to_string())?;
    store.explain().await.map_err(|e| match e {
        KeyError::Unavailable { cause, .. } => cause.to_string(),
        other => other.to_string(),
    })
}

fn print(report: &JwksReport, issuer: Option<&str>) -> Result<(), Failure> {
    match issuer {
        Some(issuer) => println!("JWKS {} (jwks_uri from the discovery document of {issuer})", report.url),
        None => println!("JWKS {}", report.url),
    }
    println!("headers:");
    if report.headers.is_empty() {
        println!("  (no caching headers)");
    }
    for (name, value) in &report.headers {
        println!("  {name}: {value}");
    }
    let why = match report.max_age {
        Some(age) => format!("Cache-Control max-age {}, clamped to the cache's bounds", duration(age)),
        None => "no max-age: the cache's default".into(),
    };
    println!("cache TTL: {} ({why})", duration(report.ttl));
    let usable = report.keys.keys.iter().filter(|k| k.outcome.is_ok()).count();
    let skipped = report.keys.keys.len() - usable;
    println!("keys: {usable} usable, {skipped} skipped, {} ignored", report.keys.ignored);
    for key in &report.keys.keys {
        let kid = key.kid.as_deref().map_or_else(|| "(no kid)".to_owned(), |k| format!("kid {k:?}"));
        let kty = key.kty.as_deref().unwrap_or("?");
        match &key.outcome {
            Ok(k) => {
                let algs: Vec<String> = k.algorithms().iter().map(|a| format!("{a:?}")).collect();
                println!("  usable   #{} {kid} {kty}: verifies {}", key.index, algs.join(", "));
            }
            Err(reason) => println!("  skipped  #{} {kid} {kty}: {reason}", key.index),
        }
    }
    if report.keys.ignored > 0 {
        println!("  ({} more keys ignored: the set holds more than the cache keeps)", report.keys.ignored);
    }
    if usable == 0 {
        return Err(Failure::no("the key set holds no usable key: every token from this issuer would be refused"));
    }
    Ok(())
}
