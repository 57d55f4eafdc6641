//! Fresh keys from the crypto backend, as private JWKs.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Map, Value};

use super::{PrivateJwk, SigningError, backend};
use crate::Algorithm;

impl PrivateJwk {
    /// A fresh key for the JWS algorithm `alg`, with `kid`, `alg` and `use: sig` set:
    /// RSA keys are 2048 bits, EC keys P-256 (ES256) or P-384 (ES384), EdDSA keys
    /// Ed25519, and HMAC secrets 64 random bytes. Made by the crate's crypto backend.
    ///
    /// To provision a [`LocalIssuer`](crate::issue::LocalIssuer)'s key (choice of RSA
    /// size, thumbprint `kid`, public JWK set), see
    /// [`IssuerKey::generate`](crate::issue::IssuerKey::generate) (feature `issuer`).
    pub fn generate(alg: Algorithm, kid: &str) -> Result<Self, SigningError> {
        use Algorithm::*;
        let mut map = Map::new();
        let mut put = |name: &str, bytes: &[u8]| {
            map.insert(name.to_owned(), Value::String(URL_SAFE_NO_PAD.encode(bytes)));
        };
        match alg {
            RS256 | RS384 | RS512 | PS256 | PS384 | PS512 => {
                let k = backend::rsa_2048()?;
                for (name, value) in [
                    ("n", &k.n),
                    ("e", &k.e),
                    ("d", &k.d),
                    ("p", &k.p),
                    ("q", &k.q),
                    ("dp", &k.dp),
                    ("dq", &k.dq),
                    ("qi", &k.qi),
                ] {
                    put(name, value);
                }
                map.insert("kty".into(), "RSA".into());
            }
            ES256 | ES384 => {
                let k = backend::ec(alg == ES384)?;
                put("d", &k.d);
                put("x", &k.x);
                put("y", &k.y);
                map.insert("kty".into(), "EC".into());
                map.insert("crv".into(), if alg == ES384 { "P-384" } else { "P-256" }.into());
            }
            EdDSA => {
                let (seed, public) = backend::ed25519()?;
                put("d", &seed);
                put("x", &public);
                map.insert("kty".into(), "OKP".into());
                map.insert("crv".into(), "Ed25519".into());
            }
            HS256 | HS384 | HS512 => {
                put("k", &super::random_bytes(64)?);
                map.insert("kty".into(), "oct".into());
            }
            other => return Err(SigningError::new(format!("key generation: unsupported algorithm {other:?}"))),
        }
        map.insert("kid".into(), kid.into());
        map.insert("alg".into(), format!("{alg:?}").into());
        map.insert("use".into(), "sig".into());
        PrivateJwk::from_map(map)
    }
}
