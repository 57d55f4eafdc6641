//! Arbitrary bytes as a JWK set, parsed both the remote way (`KeySet::from_published_jwks`)
//! and the local way (`StaticKeys::from_jwks`). Nothing may panic: neither the
//! parsing nor a signature check against whatever keys were accepted.
#![no_main]

use std::sync::OnceLock;
use std::task::{Context, Waker};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use libfuzzer_sys::fuzz_target;
use tower_bearer::keys::{KeySet, StaticKeys, VerificationKey};
use tower_bearer::token::BearerToken;
use tower_bearer::{Algorithm, Issuer, JwtVerifier, Verification, Verifier};

/// Keys per input that are also exercised in a signature check.
const MAX_CHECKED_KEYS: usize = 8;

/// A syntactically valid token per algorithm (no `kid`, so a one-key set selects
/// its key), with a junk signature of the algorithm's usual length.
fn token_for(alg: Algorithm) -> &'static BearerToken {
    static TOKENS: OnceLock<Vec<(Algorithm, BearerToken)>> = OnceLock::new();
    let tokens = TOKENS.get_or_init(|| {
        use Algorithm::*;
        [
            (HS256, 32),
            (HS384, 48),
            (HS512, 64),
            (ES256, 64),
            (ES384, 96),
            (RS256, 256),
            (RS384, 256),
            (RS512, 256),
            (PS256, 256),
            (PS384, 256),
            (PS512, 256),
            (EdDSA, 64),
        ]
        .into_iter()
        .map(|(alg, sig_len)| {
            let header = URL_SAFE_NO_PAD.encode(format!(r#"{{"alg":"{alg:?}","typ":"JWT"}}"#));
            let claims = URL_SAFE_NO_PAD.encode(r#"{"iss":"fuzz","aud":"fuzz","exp":253402300799}"#);
            let signature = URL_SAFE_NO_PAD.encode(vec![0x5a; sig_len]);
            (alg, BearerToken::new(format!("{header}.{claims}.{signature}")))
        })
        .collect()
    });
    &tokens.iter().find(|(a, _)| *a == alg).expect("every algorithm has a token").1
}

/// Runs a junk-signed token through a verifier holding only `key`, for every
/// algorithm the key allows. The result does not matter; only panics do.
fn exercise(key: &VerificationKey) {
    let Ok(verifier) = JwtVerifier::builder()
        .issuer(Issuer::new("fuzz").keys(StaticKeys::new(vec![key.clone()])))
        .audience("fuzz")
        .build()
    else {
        return;
    };
    for alg in key.algorithms().iter() {
        if let Verification::Pending(mut future) = verifier.verify(token_for(alg)) {
            let _ = future.as_mut().poll(&mut Context::from_waker(Waker::noop()));
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let remote = KeySet::from_published_jwks(data, 100);
    let local = StaticKeys::from_jwks(&String::from_utf8_lossy(data));

    let remote_keys = remote.as_ref().map(KeySet::keys).unwrap_or_default();
    let local_keys = local.as_ref().map(|s| s.key_set().keys()).unwrap_or_default();
    for key in remote_keys.iter().chain(local_keys).take(MAX_CHECKED_KEYS) {
        exercise(key);
    }
});
