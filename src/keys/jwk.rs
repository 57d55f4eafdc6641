//! JSON Web Keys (RFC 7517) turned into [`VerificationKey`]s.
//!
//! Each JWK is judged on its own: one malformed, private, encryption-only or
//! unsupported key is skipped with a warning and the rest of the set stays usable.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, DecodingKey};
use serde_json::{Map, Value};

use super::key_set::{AlgorithmSet, KeySet, VerificationKey};

/// Where a JWK set came from decides how strict we are with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Origin {
    /// Fetched from a server: public keys only, no `oct` secrets.
    Remote,
    /// Configured by the application: private JWKs are reduced to their public
    /// part, and `oct` secrets are allowed (the only way HS* is enabled).
    Local,
}

/// Cap on JSON nesting in a JWK set document.
const MAX_JWKS_DEPTH: usize = 16;

/// Default cap on keys kept from one set.
pub const DEFAULT_MAX_KEYS: usize = 100;

/// Parses a JWK set document, skipping unusable keys. Fails only when the document
/// itself is not a JWK set.
pub(crate) fn parse_set(json: &[u8], origin: Origin, max_keys: usize) -> Result<KeySet, String> {
    let judged = judge_set(json, origin, max_keys)?;
    let mut out = Vec::with_capacity(judged.keys.len());
    for jwk in judged.keys {
        match jwk.outcome {
            Ok(key) => out.push(key),
            Err(reason) => {
                let (index, kid) = (jwk.index, jwk.kid.as_deref().unwrap_or(""));
                tracing::warn!(index, kid, %reason, "skipping unusable JWK");
            }
        }
    }
    if judged.ignored > 0 {
        let total = judged.ignored + out.len();
        tracing::warn!(max_keys, total, "JWK set holds more keys than allowed; the rest are ignored");
    }
    Ok(KeySet::new(out))
}

/// Every member of a JWK set's `keys` array, judged on its own.
#[derive(Debug, Clone)]
pub struct JudgedJwks {
    /// The members read, in order, each usable or skipped with its reason.
    pub keys: Vec<JudgedJwk>,
    /// Members not read at all: the set already held the maximum of usable keys.
    pub ignored: usize,
}

/// What became of one member of a JWK set's `keys` array.
#[derive(Debug, Clone)]
pub struct JudgedJwk {
    /// Its position in the `keys` array.
    pub index: usize,
    /// Its `kid`, when it has a string one.
    pub kid: Option<String>,
    /// Its `kty`, when it has a string one.
    pub kty: Option<String>,
    /// The key it became, or why it is skipped.
    pub outcome: Result<VerificationKey, String>,
}

/// Judges each member of a JWK set on its own, up to `max_keys` usable keys. Fails
/// only when the document itself is not a JWK set.
pub(crate) fn judge_set(json: &[u8], origin: Origin, max_keys: usize) -> Result<JudgedJwks, String> {
    // A JWK set nests four deep (`x5c` arrays inside keys inside "keys").
    if !crate::json::depth_within(json, MAX_JWKS_DEPTH) {
        return Err(format!("nested deeper than {MAX_JWKS_DEPTH} levels"));
    }
    let doc: Value = serde_json::from_slice(json).map_err(|e| format!("not JSON: {e}"))?;
    let keys = doc.get("keys").and_then(Value::as_array).ok_or("no \"keys\" array")?;
    let mut judged = JudgedJwks { keys: Vec::new(), ignored: 0 };
    let mut usable = 0;
    for (index, jwk) in keys.iter().enumerate() {
        if usable == max_keys {
            judged.ignored = keys.len() - index;
            break;
        }
        let member = |name: &str| jwk.get(name).and_then(Value::as_str).map(str::to_owned);
        let outcome = jwk.as_object().ok_or_else(|| "not an object".to_owned()).and_then(|o| parse_key(o, origin));
        usable += usize::from(outcome.is_ok());
        judged.keys.push(JudgedJwk { index, kid: member("kid"), kty: member("kty"), outcome });
    }
    Ok(judged)
}

/// Parses one JWK object.
pub(crate) fn parse_key(jwk: &Map<String, Value>, origin: Origin) -> Result<VerificationKey, String> {
    let text = |name: &str| -> Result<Option<&str>, String> {
        match jwk.get(name) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(format!("\"{name}\" is not a string")),
        }
    };
    let required = |name: &str| text(name)?.ok_or_else(|| format!("missing \"{name}\""));
    let bytes = |name: &str| -> Result<Vec<u8>, String> {
        URL_SAFE_NO_PAD.decode(required(name)?).map_err(|_| format!("\"{name}\" is not base64url"))
    };

    let kty = required("kty")?;
    if let Some(usage) = text("use")?
        && usage != "sig"
    {
        return Err(format!("\"use\" is {usage:?}, not \"sig\""));
    }
    if let Some(ops) = jwk.get("key_ops") {
        let verifies = ops.as_array().is_some_and(|ops| ops.iter().any(|o| o == "verify"));
        if !verifies && origin == Origin::Remote {
            return Err("\"key_ops\" does not include \"verify\"".into());
        }
    }
    let private = ["d", "p", "q", "dp", "dq", "qi", "oth"].iter().any(|p| jwk.contains_key(*p));
    if private && origin == Origin::Remote {
        return Err("private key material in a public key set".into());
    }
    let kid = text("kid")?.map(str::to_owned);
    let declared =
        text("alg")?.map(|a| a.parse::<Algorithm>().map_err(|_| format!("unsupported \"alg\" {a:?}"))).transpose()?;

    let (key, algorithms) = match kty {
        "RSA" => {
            let n = bytes("n")?;
            let e = bytes("e")?;
            super::rsa::check_modulus(&n)?;
            (DecodingKey::from_rsa_raw_components(&n, &e), AlgorithmSet::rsa())
        }
        "EC" => {
            let (alg, len) = match required("crv")? {
                "P-256" => (Algorithm::ES256, 32),
                "P-384" => (Algorithm::ES384, 48),
                other => return Err(format!("unsupported curve {other:?}")),
            };
            let (x, y) = (bytes("x")?, bytes("y")?);
            if x.len() != len || y.len() != len {
                return Err("EC coordinates do not match the curve".into());
            }
            let mut point = Vec::with_capacity(1 + 2 * len);
            point.push(4);
            point.extend_from_slice(&x);
            point.extend_from_slice(&y);
            (DecodingKey::from_ec_der(&point), AlgorithmSet::one(alg))
        }
        "OKP" => {
            if required("crv")? != "Ed25519" {
                return Err("only Ed25519 is supported for OKP keys".into());
            }
            let x = bytes("x")?;
            if x.len() != 32 {
                return Err("Ed25519 public key must be 32 bytes".into());
            }
            (DecodingKey::from_ed_der(&x), AlgorithmSet::one(Algorithm::EdDSA))
        }
        "oct" if origin == Origin::Local => {
            let secret = bytes("k")?;
            (DecodingKey::from_secret(&secret), hmac_algorithms(secret.len())?)
        }
        "oct" => return Err("symmetric keys are never accepted from a remote key set".into()),
        other => return Err(format!("unsupported \"kty\" {other:?}")),
    };
    let algorithms = match declared {
        Some(alg) if algorithms.contains(alg) => AlgorithmSet::one(alg),
        Some(alg) => return Err(format!("\"alg\" {alg:?} does not fit \"kty\" {kty:?}")),
        None => algorithms,
    };
    Ok(VerificationKey::new(kid, key, algorithms))
}

/// HS* algorithms whose hash is no longer than the secret (RFC 7518 §3.2).
pub(crate) fn hmac_algorithms(secret_len: usize) -> Result<AlgorithmSet, String> {
    let algs: Vec<Algorithm> = [(Algorithm::HS256, 32), (Algorithm::HS384, 48), (Algorithm::HS512, 64)]
        .into_iter()
        .filter(|(_, min)| secret_len >= *min)
        .map(|(a, _)| a)
        .collect();
    if algs.is_empty() {
        return Err(format!("HMAC secret of {secret_len} bytes is shorter than 32 (RFC 7518 §3.2)"));
    }
    Ok(AlgorithmSet::of(&algs))
}

#[cfg(test)]
mod tests {
    use super::*;

    const N2048: &str = "sXchDaQebHnPiGvyDOAT4saGEUetSyo9MKLOoWFsueri23bOdgWp4Dy1WlUzewbgBHod5pcM9H95GQRV3JDXboIRROSBigeC5yjU1hGzHHyXss8UDprecbAYxknTcQkhslANGRUZmdTOQ5qTRsLAt6BTYuyvVRdhS8exSZEy_c4gs_7svlJJQ4H9_NxsiIoLwAEk7-Q3UXERGYw_75IDrGA84-lA_-Ct4eTlXHBIY2EaV7t7LjJaynVJCpkv4LKjTTAumiGUIuQhrNhZLuF_RJLqHpM2kgWFLU7-VTdL1VbC2tejvcI2BlMkEpk1BzBZI0KQB0GaDWFLN-aEAw3vRw";

    fn key(json: Value, origin: Origin) -> Result<VerificationKey, String> {
        parse_key(json.as_object().unwrap(), origin)
    }

    #[test]
    fn binds_algorithms_to_key_type() {
        let k = key(serde_json::json!({"kty":"RSA","n":N2048,"e":"AQAB","kid":"r"}), Origin::Remote).unwrap();
        assert_eq!(k.algorithms(), AlgorithmSet::rsa());
        let k = key(serde_json::json!({"kty":"RSA","n":N2048,"e":"AQAB","alg":"PS256"}), Origin::Remote).unwrap();
        assert_eq!(k.algorithms(), AlgorithmSet::one(Algorithm::PS256));
        assert!(key(serde_json::json!({"kty":"RSA","n":N2048,"e":"AQAB","alg":"ES256"}), Origin::Remote).is_err());
        assert!(key(serde_json::json!({"kty":"RSA","n":N2048,"e":"AQAB","alg":"HS256"}), Origin::Remote).is_err());
    }

    #[test]
    fn rejects_unusable_keys() {
        for bad in [
            serde_json::json!({"kty":"RSA","n":"AQAB","e":"AQAB"}),
            serde_json::json!({"kty":"RSA","n":N2048,"e":"AQAB","use":"enc"}),
            serde_json::json!({"kty":"RSA","n":N2048,"e":"AQAB","d":"AQAB"}),
            serde_json::json!({"kty":"oct","k":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}),
            serde_json::json!({"kty":"EC","crv":"P-521","x":"AA","y":"AA"}),
            serde_json::json!({"kty":"OKP","crv":"Ed448","x":"AA"}),
            serde_json::json!({"kty":5}),
        ] {
            assert!(key(bad.clone(), Origin::Remote).is_err(), "{bad}");
        }
    }

    #[test]
    fn one_bad_key_does_not_poison_the_set() {
        let doc = serde_json::json!({"keys":[{"kty":"nope"}, {"kty":"RSA","n":N2048,"e":"AQAB","kid":"ok"}, 7]});
        let set = parse_set(doc.to_string().as_bytes(), Origin::Remote, 10).unwrap();
        assert_eq!(set.len(), 1);
        assert!(set.contains_kid("ok"));
        assert!(parse_set(b"{}", Origin::Remote, 10).is_err());
    }

    #[test]
    fn hmac_needs_enough_bytes() {
        assert!(hmac_algorithms(31).is_err());
        assert_eq!(hmac_algorithms(32).unwrap(), AlgorithmSet::one(Algorithm::HS256));
        assert_eq!(hmac_algorithms(64).unwrap().iter().count(), 3);
    }
}
