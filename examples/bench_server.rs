//! The servers the load benchmark (`benches/load.sh`) drives. Not an example to copy.
//!
//! `bench_server mint DIR N M`: writes `DIR/key.json` (private JWKs), `DIR/rs256.txt`
//! (N RS256 tokens, one per line) and `DIR/es256.txt` (M ES256 tokens).
//! `bench_server serve MODE DIR`: serves `GET /items` on `BIND` (default 127.0.0.1:0),
//! where MODE is `unprotected`, `bearer` (tower-bearer, cache on), `bearer-nocache`, or
//! `reference` (jsonwebtoken + aws-lc-rs with a preloaded key, verified on every request).

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
        for i in 0..n {
            // Shaped like a typical IdP access token (about 800 bytes for RS256).
            let claims = json!({
                "iss": ISSUER, "aud": AUDIENCE, "sub": format!("user-{i}"), "client_id": "bench-client",
                "iat": SystemClock.now(), "exp": SystemClock.now() + 3 * 3600, "jti": format!("jti-{i}-{}", std::process::id()),
                "scope": "openid profile read:items write:items", "roles": ["items.reader", "items.writer"],
                "name": "Bench User", "email": "bench@example.com",
            });
            let token = compact_jws(&header, &claims.to_string(), |m| key.sign(alg, m).unwrap_or_default());
            writeln!(out, "{token}")?;
        }
    }
    Ok(())
}

fn serve(mode: &str, dir: &str) -> Result<(), Box<dyn std::error::Error>> {
    let keys: Vec<Value> = serde_json::from_str(&std::fs::read_to_string(format!("{dir}/key.json"))?)?;
    let rt = tokio::runtime::Runtime::new()?;
    let app = Router::new().route("/items", get(|| async { "ok" }));
    let app = match mode {
        "unprotected" => app,
        "bearer" | "bearer-nocache" => {
            let keys = keys.iter().map(|k| VerificationKey::from_jwk(&k.to_string())).collect::<Result<Vec<_>, _>>()?;
            let mut b =
                JwtVerifier::builder().issuer(Issuer::new(ISSUER).keys(StaticKeys::new(keys))).audience(AUDIENCE);
            if mode == "bearer-nocache" {
                b = b.no_token_cache();
            }
            app.layer(BearerLayer::new(b.build()?).require(scope("read:items")))
        }
        "reference" => {
            let _ = jsonwebtoken::crypto::aws_lc::DEFAULT_PROVIDER.install_default();
            let private = PrivateJwk::from_map(keys[0].as_object().cloned().unwrap_or_default())?;
            let public = Value::Object(private.public().ok_or("the RSA key has a public half")?);
            let jwk: jsonwebtoken::jwk::Jwk = serde_json::from_value(public)?;
            let key = Arc::new(DecodingKey::from_jwk(&jwk)?);
            let mut validation = Validation::new(jsonwebtoken::Algorithm::RS256);
            validation.set_audience(&[AUDIENCE]);
            validation.set_issuer(&[ISSUER]);
            let validation = Arc::new(validation);
            app.layer(from_fn(move |req: Request, next: Next| {
                let (key, validation) = (key.clone(), validation.clone());
                async move { reference_check(&key, &validation, req, next).await }
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

async fn reference_check(key: &DecodingKey, validation: &Validation, req: Request, next: Next) -> Response {
    let token =
        req.headers().get("authorization").and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer "));
    match token.map(|t| jsonwebtoken::decode::<Value>(t, key, validation)) {
        Some(Ok(_)) => next.run(req).await,
        _ => StatusCode::UNAUTHORIZED.into_response(),
    }
}
