//! The JWS compact serialization (RFC 7515 §7.1).

use std::convert::Infallible;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// Compact-serializes a JWS from raw header and payload JSON text, signed by `sign`
/// over the signing input: the text is used as given, so tests can craft hostile
/// headers. For a key, `sign` is `|input| key.sign(alg, input)`.
pub fn compact_jws(header_json: &str, payload_json: &str, sign: impl FnOnce(&[u8]) -> Vec<u8>) -> String {
    match try_compact_jws(header_json, payload_json, |input| Ok::<_, Infallible>(sign(input))) {
        Ok(jws) => jws,
        Err(never) => match never {},
    }
}

/// [`compact_jws`] with a signer that can fail.
pub(crate) fn try_compact_jws<E>(
    header_json: &str,
    payload_json: &str,
    sign: impl FnOnce(&[u8]) -> Result<Vec<u8>, E>,
) -> Result<String, E> {
    let input = format!("{}.{}", URL_SAFE_NO_PAD.encode(header_json), URL_SAFE_NO_PAD.encode(payload_json));
    let sig = sign(input.as_bytes())?;
    Ok(format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig)))
}
