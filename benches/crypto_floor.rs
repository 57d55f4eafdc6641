//! Where a cold ES256 or EdDSA verification goes: the signature check alone (aws-lc-rs
//! with a parsed key, the floor), the layer's whole cold path, and jsonwebtoken's, in
//! instructions counted by callgrind (repeatable on a busy machine) and in time.
//!
//! `bash benches/crypto_floor.sh` runs both; by hand:
//! `target/release/deps/crypto_floor-* time` or
//! `valgrind --tool=callgrind --toggle-collect='*measured*' target/release/deps/crypto_floor-* floor ES256 200`.

use std::hint::black_box;
use std::time::Instant;

use aws_lc_rs::signature::{self as sig, ParsedPublicKey};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{DecodingKey, Validation};
use serde_json::{Value, json};
use tower_bearer::keys::{StaticKeys, VerificationKey};
use tower_bearer::signing::{PrivateJwk, compact_jws};
use tower_bearer::token::BearerToken;
use tower_bearer::{Algorithm, Clock as _, Issuer, JwtVerifier, SystemClock, Verification, Verifier};

struct Case {
    token: String,
    signing_input: Vec<u8>,
    signature: Vec<u8>,
    floor: ParsedPublicKey,
    ours: JwtVerifier,
    reference: (DecodingKey, Validation),
}

fn case(alg: Algorithm) -> Case {
    let private = PrivateJwk::generate(alg, "k").unwrap();
    let public = private.public().unwrap();
    // The same claims as the load benchmark's tokens.
    let claims = json!({
        "iss": "https://idp.example.com", "aud": "api", "sub": "user-1", "client_id": "c",
        "iat": SystemClock.now(), "exp": SystemClock.now() + 3600, "jti": "j-1",
        "scope": "read:items write:items", "roles": ["items.admin"],
    });
    let header = json!({"alg": format!("{alg:?}"), "typ": "at+jwt", "kid": "k"});
    let token = compact_jws(&header.to_string(), &claims.to_string(), |i| private.sign(alg, i).unwrap());
    let (signing_input, signature) = token.rsplit_once('.').unwrap();
    let coordinate = |name: &str| URL_SAFE_NO_PAD.decode(public[name].as_str().unwrap()).unwrap();
    let (algorithm, raw): (&'static dyn sig::VerificationAlgorithm, Vec<u8>) = match alg {
        Algorithm::ES256 => (&sig::ECDSA_P256_SHA256_FIXED, [vec![4], coordinate("x"), coordinate("y")].concat()),
        Algorithm::EdDSA => (&sig::ED25519, coordinate("x")),
        other => panic!("{other:?} is not measured here"),
    };
    let jwk = Value::Object(public).to_string();
    let ours = JwtVerifier::builder()
        .issuer(Issuer::new("https://idp.example.com").keys(StaticKeys::from(VerificationKey::from_jwk(&jwk).unwrap())))
        .audience("api")
        .no_token_cache()
        .build()
        .unwrap();
    let mut validation = Validation::new(alg);
    validation.set_audience(&["api"]);
    validation.set_issuer(&["https://idp.example.com"]);
    let reference = (DecodingKey::from_jwk(&serde_json::from_str(&jwk).unwrap()).unwrap(), validation);
    Case {
        signing_input: signing_input.as_bytes().to_vec(),
        signature: URL_SAFE_NO_PAD.decode(signature).unwrap(),
        floor: ParsedPublicKey::new(algorithm, raw).unwrap(),
        token,
        ours,
        reference,
    }
}

#[inline(never)]
fn measured_floor(c: &Case, n: usize) -> usize {
    (0..n).filter(|_| c.floor.verify_sig(black_box(&c.signing_input), &c.signature).is_ok()).count()
}

#[inline(never)]
fn measured_ours(c: &Case, n: usize) -> usize {
    let token = BearerToken::new(c.token.as_str());
    (0..n).filter(|_| matches!(c.ours.verify(black_box(&token)), Verification::Ready(Ok(_)))).count()
}

#[inline(never)]
fn measured_jsonwebtoken(c: &Case, n: usize) -> usize {
    let (key, validation) = &c.reference;
    (0..n).filter(|_| jsonwebtoken::decode::<Value>(black_box(&c.token), key, validation).is_ok()).count()
}

fn run(what: &str, c: &Case, n: usize) -> usize {
    match what {
        "floor" => measured_floor(c, n),
        "ours" => measured_ours(c, n),
        "jsonwebtoken" => measured_jsonwebtoken(c, n),
        other => panic!("unknown {other}"),
    }
}

fn alg(name: &str) -> Algorithm {
    match name {
        "ES256" => Algorithm::ES256,
        "EdDSA" => Algorithm::EdDSA,
        other => panic!("unknown algorithm {other}"),
    }
}

fn main() {
    let _ = jsonwebtoken::crypto::aws_lc::DEFAULT_PROVIDER.install_default();
    let args: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with("--")).collect();
    match args.iter().map(String::as_str).collect::<Vec<_>>().as_slice() {
        [what, name, n] => {
            let c = case(alg(name));
            let n: usize = n.parse().unwrap();
            assert_eq!(run(what, &c, n), n, "every verification succeeds");
        }
        // `cargo bench` passes only flags: time each, alternating, medians of 5 rounds.
        _ => {
            println!("µs per verification (median of 5 alternating rounds of 2000)");
            for name in ["ES256", "EdDSA"] {
                let c = case(alg(name));
                let mut rounds: Vec<[f64; 3]> = (0..5)
                    .map(|_| {
                        ["floor", "ours", "jsonwebtoken"].map(|what| {
                            let start = Instant::now();
                            assert_eq!(run(what, &c, 2000), 2000);
                            start.elapsed().as_secs_f64() * 1e6 / 2000.0
                        })
                    })
                    .collect();
                let median = |i: usize, rounds: &mut Vec<[f64; 3]>| {
                    rounds.sort_by(|a, b| a[i].total_cmp(&b[i]));
                    rounds[2][i]
                };
                let (f, o, j) = (median(0, &mut rounds), median(1, &mut rounds), median(2, &mut rounds));
                println!("  {name:6} signature alone {f:6.1}   tower-bearer cold {o:6.1}   jsonwebtoken {j:6.1}");
            }
        }
    }
}
