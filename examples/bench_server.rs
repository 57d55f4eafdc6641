//! The servers the load benchmark (`benches/load.sh`) drives. Not an example to copy.
//!
//! `bench_server mint DIR N M`: writes `DIR/key.json` (private JWKs), `DIR/rs256.txt`
//! (N RS256 tokens, one per line) and `DIR/es256.txt` (M ES256 tokens).
//! `bench_server serve MODE DIR`: serves `GET /items` on `BIND` (default 127.0.0.1:0),
//! on tokio's default multi-threaded runtime, where MODE is `unprotected`, `bearer`
//! (tower-bearer, defaults, `scope` requirement), `bearer-nocache`, `reference`
//! (jsonwebtoken + aws-lc-rs with a pre-parsed key, verifying every request) or
//! `reference-moka` (the same plus a moka map of verified tokens keyed by the token
//! string, 10 000 entries: the hand-written cache the layer must beat). Every protected
//! mode refuses a token without the `read:items` scope. `passthrough` adds a layer
//! that does nothing: what any layer costs in an axum router (it boxes each route again).

use std::io::Write;
use std::sync::Arc;

use axum::Router;
use axum::extract::Request;
use axum::middleware::{Next, from_fn};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use http::StatusCode;
use jsonwebtoken::{DecodingKey, Validation};
use serde_json::{Value, json};
use tower_bearer::keys::{StaticKeys, VerificationKey};
use tower_bearer::policy::scope;
use tower_bearer::signing::{PrivateJwk, compact_jws};
use tower_bearer::{Algorithm, BearerLayer, Clock as _, Issuer, JwtVerifier, SystemClock};

const ISSUER: &str = "https://idp.bench.local";
const AUDIENCE: &str = "bench-api";

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("mint") => mint(&args[2], args[3].parse()?, args[4].parse()?),
        Some("serve") => serve(&args[2], &args[3]),
        _ => Err("usage: bench_server mint DIR N M | serve MODE DIR".into()),
    }
}

fn mint(dir: &str, rs256: usize, es256: usize) -> Result<(), Box<dyn std::error::Error>> {
    let rsa = PrivateJwk::generate(Algorithm::RS256, "rsa-1")?;
    let ec = PrivateJwk::generate(Algorithm::ES256, "ec-1")?;
    let keys = json!([Value::Object(rsa.as_map().clone()), Value::Object(ec.as_map().clone())]);
    std::fs::write(format!("{dir}/key.json"), keys.to_string())?;
    for (name, key, alg, n) in [("rs256", &rsa, Algorithm::RS256, rs256), ("es256", &ec, Algorithm::ES256, es256)] {
        let mut out = std::io::BufWriter::new(std::fs::File::create(format!("{dir}/{name}.txt"))?);
        let kid = key.kid().unwrap_or_default().to_owned();
        let header = json!({"alg": format!("{alg:?}"), "typ": "at+jwt", "kid": kid}).to_string();
        // Signing 100 000 RS256 tokens takes a minute on one core: one chunk per core.
        let threads = std::thread::available_parallelism().map_or(1, usize::from);
        let chunks: Vec<Vec<String>> = std::thread::scope(|scope| {
            let workers: Vec<_> = (0..threads)
                .map(|t| {
                    let header = &header;
                    scope.spawn(move || (t..n).step_by(threads).map(|i| token(header, key, alg, i)).collect::<Vec<_>>())
                })
                .collect();
            workers.into_iter().map(|w| w.join().unwrap_or_default()).collect()
        });
        for token in chunks.iter().flatten() {
            writeln!(out, "{token}")?;
        }
    }
    Ok(())
}

/// Shaped like a typical IdP access token (about 800 bytes for RS256).
fn token(header: &str, key: &PrivateJwk, alg: Algorithm, i: usize) -> String {
    let claims = json!({
        "iss": ISSUER, "aud": AUDIENCE, "sub": format!("user-{i}"), "client_id": "bench-client",
        "iat": SystemClock.now(), "exp": SystemClock.now() + 3 * 3600, "jti": format!("jti-{i}-{}", std::process::id()),
        "scope": "openid profile read:items write:items", "roles": ["items.reader", "items.writer"],
        "name": "Bench User", "email": "bench@example.com",
    });
    compact_jws(header, &claims.to_string(), |m| key.sign(alg, m).unwrap_or_default())
}

fn serve(mode: &str, dir: &str) -> Result<(), Box<dyn std::error::Error>> {
    let keys: Vec<Value> = serde_json::from_str(&std::fs::read_to_string(format!("{dir}/key.json"))?)?;
    let rt = tokio::runtime::Runtime::new()?;
    let app = Router::new().route("/items", get(|| async { "ok" }));
    let app = match mode {
        "unprotected" => app,
        "passthrough" => app.layer(tower::layer::layer_fn(|inner| inner)),
        "bearer" | "bearer-nocache" => {
            let keys = keys.iter().map(|k| VerificationKey::from_jwk(&k.to_string())).collect::<Result<Vec<_>, _>>()?;
            let mut b =
                JwtVerifier::builder().issuer(Issuer::new(ISSUER).keys(StaticKeys::new(keys))).audience(AUDIENCE);
            if mode == "bearer-nocache" {
                b = b.no_token_cache();
            }
            app.layer(BearerLayer::new(b.build()?).require(scope("read:items")))
        }
        "reference" | "reference-moka" => {
            let _ = jsonwebtoken::crypto::aws_lc::DEFAULT_PROVIDER.install_default();
            let private = PrivateJwk::from_map(keys[0].as_object().cloned().unwrap_or_default())?;
            let public = Value::Object(private.public().ok_or("the RSA key has a public half")?);
            let jwk: jsonwebtoken::jwk::Jwk = serde_json::from_value(public)?;
            let key = DecodingKey::from_jwk(&jwk)?;
            let mut validation = Validation::new(jsonwebtoken::Algorithm::RS256);
            validation.set_audience(&[AUDIENCE]);
            validation.set_issuer(&[ISSUER]);
            let reference = Arc::new(Reference {
                key,
                validation,
                cache: (mode == "reference-moka").then(|| moka::sync::Cache::new(10_000)),
            });
            app.layer(from_fn(move |req: Request, next: Next| {
                let reference = reference.clone();
                async move { reference.check(req, next).await }
            }))
        }
        other => return Err(format!("unknown mode {other}").into()),
    };
    rt.block_on(async move {
        let bind = std::env::var("BIND").unwrap_or_else(|_| "127.0.0.1:0".into());
        let listener = tokio::net::TcpListener::bind(bind).await?;
        println!("listening on http://{}", listener.local_addr()?);
        axum::serve(listener, app).await?;
        Ok::<_, Box<dyn std::error::Error>>(())
    })
}

/// What a team writes by hand: jsonwebtoken with a pre-parsed key, the `scope` check,
/// and optionally a moka map of verified claims keyed by the token string.
struct Reference {
    key: DecodingKey,
    validation: Validation,
    cache: Option<moka::sync::Cache<String, Arc<Value>>>,
}

impl Reference {
    async fn check(&self, req: Request, next: Next) -> Response {
        let token =
            req.headers().get("authorization").and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer "));
        let Some(token) = token else { return StatusCode::UNAUTHORIZED.into_response() };
        let cached = self.cache.as_ref().and_then(|c| c.get(token));
        let claims = match cached {
            Some(claims) => claims,
            None => match jsonwebtoken::decode::<Value>(token, &self.key, &self.validation) {
                Ok(data) => {
                    let claims = Arc::new(data.claims);
                    if let Some(cache) = &self.cache {
                        cache.insert(token.to_owned(), claims.clone());
                    }
                    claims
                }
                Err(_) => return StatusCode::UNAUTHORIZED.into_response(),
            },
        };
        let scoped = claims["scope"].as_str().is_some_and(|s| s.split(' ').any(|s| s == "read:items"));
        if !scoped {
            return StatusCode::FORBIDDEN.into_response();
        }
        next.run(req).await
    }
}
