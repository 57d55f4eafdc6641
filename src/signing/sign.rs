//! Signing with a private JWK through jsonwebtoken's signer for the crate's backend.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::EncodingKey;

use super::{PrivateJwk, SigningError, der};
use crate::Algorithm;

impl PrivateJwk {
    /// Signs a JWS signing input (`base64url(header).base64url(payload)`) as algorithm
    /// `alg`. The JWK's own `alg` is not consulted, so tests can sign with a mismatched
    /// one on purpose; a key of another family (an EC key for RS256) is an error.
    pub fn sign(&self, alg: Algorithm, signing_input: &[u8]) -> Result<Vec<u8>, SigningError> {
        let key = self.encoding_key(alg)?;
        let signer = (crate::verify::crypto_provider().signer_factory)(&alg, &key)
            .map_err(|e| SigningError::caused_by(format!("signing key for {alg:?}"), e))?;
        signer.try_sign(signing_input).map_err(|e| SigningError::caused_by(format!("signing as {alg:?}"), e))
    }

    /// The JWK as the key form jsonwebtoken's signers take for `alg`.
    fn encoding_key(&self, alg: Algorithm) -> Result<EncodingKey, SigningError> {
        use Algorithm::*;
        let member = |name: &str| -> Result<Vec<u8>, SigningError> {
            let text = self.str(name).ok_or_else(|| SigningError::new(format!("signing JWK: no `{name}`")))?;
            // Not the decode error as a cause: its message quotes the offending symbol,
            // one character of a private key member.
            URL_SAFE_NO_PAD
                .decode(text)
                .map_err(|_| SigningError::new(format!("signing JWK: `{name}` is not base64url")))
        };
        match (alg, self.kty(), self.crv()) {
            (HS256 | HS384 | HS512, "oct", _) => Ok(EncodingKey::from_secret(&member("k")?)),
            (RS256 | RS384 | RS512 | PS256 | PS384 | PS512, "RSA", _) => {
                let parts = der::RsaParts {
                    n: member("n")?,
                    e: member("e")?,
                    d: member("d")?,
                    p: member("p")?,
                    q: member("q")?,
                    dp: member("dp")?,
                    dq: member("dq")?,
                    qi: member("qi")?,
                };
                Ok(EncodingKey::from_rsa_der(&der::rsa_private_key(&parts)))
            }
            (ES256, "EC", Some("P-256")) | (ES384, "EC", Some("P-384")) => {
                let (curve, size) = if alg == ES256 { (der::P256, 32) } else { (der::P384, 48) };
                // `x` and `y` are optional here: some tools write private JWKs without them.
                let optional = |name: &str| if self.str(name).is_some() { member(name) } else { Ok(Vec::new()) };
                let k = der::EcParts { d: member("d")?, x: optional("x")?, y: optional("y")? };
                if k.d.len() != size || [&k.x, &k.y].iter().any(|v| !v.is_empty() && v.len() != size) {
                    return Err(SigningError::new(format!("signing JWK: EC members are not {size} bytes")));
                }
                Ok(EncodingKey::from_ec_der(&der::ec_private_key_info(curve, &k)))
            }
            (EdDSA, "OKP", Some("Ed25519")) => {
                let seed = member("d")?;
                if seed.len() != 32 {
                    return Err(SigningError::new("signing JWK: an Ed25519 `d` is 32 bytes"));
                }
                Ok(EncodingKey::from_ed_der(&der::ed25519_private_key_info(&seed)))
            }
            _ => Err(SigningError::new(format!("a {} JWK cannot sign {alg:?}", self.kty()))),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::error::Error as _;

    use serde_json::Value;

    use super::*;
    use crate::keys::VerificationKey;

    fn public(key: &PrivateJwk) -> String {
        Value::Object(key.public().unwrap()).to_string()
    }

    /// Every algorithm the kit generates signs a JWS the crate's verifier accepts
    /// with the published public JWK, on whichever backend is compiled in.
    #[test]
    fn generated_keys_sign_what_their_public_jwk_verifies() {
        use Algorithm::*;
        for alg in [RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384, EdDSA, HS256, HS384, HS512] {
            let private = PrivateJwk::generate(alg, "k").unwrap();
            let message = b"header.payload";
            let sig = private.sign(alg, message).unwrap();
            let public = if matches!(alg, HS256 | HS384 | HS512) { private.to_json() } else { public(&private) };
            let key = VerificationKey::from_jwk(&public).unwrap();
            let verifier = (crate::verify::crypto_provider().verifier_factory)(&alg, key.decoding_key()).unwrap();
            assert!(verifier.verify(message, &sig).is_ok(), "{alg:?}");
            assert!(verifier.verify(b"header.other", &sig).is_err(), "{alg:?}");
        }
    }

    /// Private JWKs from other tools may leave out the public point (josekit does):
    /// the backend derives it from `d`.
    #[test]
    fn ec_keys_sign_without_their_public_point() {
        for alg in [Algorithm::ES256, Algorithm::ES384] {
            let full = PrivateJwk::generate(alg, "k").unwrap();
            let mut bare = full.clone();
            bare.set("x", Value::Null);
            bare.set("y", Value::Null);
            let sig = bare.sign(alg, b"m").unwrap();
            let key = VerificationKey::from_jwk(&public(&full)).unwrap();
            let verifier = (crate::verify::crypto_provider().verifier_factory)(&alg, key.decoding_key()).unwrap();
            assert!(verifier.verify(b"m", &sig).is_ok(), "{alg:?}");
        }
    }

    #[test]
    fn a_key_signs_only_its_own_family() {
        let ec = PrivateJwk::generate(Algorithm::ES256, "k").unwrap();
        assert!(ec.sign(Algorithm::ES384, b"x").is_err());
        assert!(ec.sign(Algorithm::RS256, b"x").is_err());
        assert!(ec.sign(Algorithm::HS256, b"x").is_err());
    }

    /// A signing failure keeps the underlying error as its `source()`.
    #[test]
    fn a_broken_key_member_is_named_but_never_quoted() {
        let mut key = PrivateJwk::generate(Algorithm::HS256, "k").unwrap();
        key.set("k", Value::String("c2VjcmV0!".into()));
        let e = key.sign(Algorithm::HS256, b"x").unwrap_err();
        assert!(e.to_string().contains("`k` is not base64url"), "{e}");
        // base64's own error quotes the offending symbol and offset: a piece of the key.
        assert!(e.source().is_none(), "{e:?}");
        assert!(!format!("{e:?}").contains("symbol"), "{e:?}");
    }
}
