//! PKCE (RFC 7636), `S256` only, required of every client (RFC 9700 §2.1.1).

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest as _, Sha256};

/// A `code_verifier` or S256 `code_challenge` is 43-128 characters of
/// `[A-Z] / [a-z] / [0-9] / "-" / "." / "_" / "~"` (§4.1); an S256 challenge is
/// always 43.
fn unreserved(value: &str) -> bool {
    value.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

/// Checks the authorization request's `code_challenge` and `code_challenge_method`:
/// both present, the method `S256` (not `plain`, and never assumed: §4.3's default of
/// `plain` is refused), the challenge a base64url SHA-256 (43 characters).
pub(crate) fn check_challenge(challenge: Option<&str>, method: Option<&str>) -> Result<String, &'static str> {
    let challenge = challenge.ok_or("code_challenge is required (PKCE, S256)")?;
    match method {
        Some("S256") => {}
        Some("plain") => return Err("code_challenge_method plain is not allowed; use S256"),
        Some(_) => return Err("unsupported code_challenge_method; use S256"),
        None => return Err("code_challenge_method is required and must be S256"),
    }
    if challenge.len() != 43 || !unreserved(challenge) {
        return Err("code_challenge is not an S256 challenge (43 base64url characters)");
    }
    Ok(challenge.to_owned())
}

/// Whether `verifier` (a well-formed `code_verifier`) hashes to `challenge`.
pub(crate) fn verifier_matches(verifier: &str, challenge: &str) -> bool {
    if !(43..=128).contains(&verifier.len()) || !unreserved(verifier) {
        return false;
    }
    let computed = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    crate::verify::constant_time_eq(computed.as_bytes(), challenge.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::{check_challenge, verifier_matches};

    #[test]
    fn rfc_7636_appendix_b() {
        let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        let challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
        assert_eq!(check_challenge(Some(challenge), Some("S256")).as_deref(), Ok(challenge));
        assert!(verifier_matches(verifier, challenge));
        assert!(!verifier_matches("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXx", challenge));
        assert!(check_challenge(Some(challenge), Some("plain")).is_err());
        assert!(check_challenge(Some(challenge), None).is_err());
        assert!(check_challenge(None, Some("S256")).is_err());
        assert!(check_challenge(Some("short"), Some("S256")).is_err());
    }
}
