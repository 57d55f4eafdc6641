//! Sender-constrained tokens: the `cnf` (confirmation) claim, read once at
//! verification and checked by the layer on every request, cache hits included.
//!
//! A token with `cnf` is bound to a key its holder must prove: a DPoP key (`jkt`, RFC
//! 9449 §6) or a TLS client certificate (`x5t#S256`, RFC 8705 §3.1). Accepted as a
//! plain bearer token it would work for whoever stole it, which is what binding exists
//! to stop. So the rule fails closed: a member the layer is not configured to check,
//! an unknown member, an empty or malformed `cnf` is refused, alone or beside a
//! checked one.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Map, Value};

use super::Verification;
use super::trace::{Check, Trace, traced};
use crate::claims::VerifiedToken;
use crate::reject::{AuthError, InvalidToken};
use crate::token::Scheme;

/// What a token's `cnf` binds it to, each a SHA-256 thumbprint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Confirmation {
    /// RFC 7638 thumbprint of the DPoP key (`jkt`).
    pub(crate) jkt: Option<[u8; 32]>,
    /// SHA-256 of the client certificate's DER (`x5t#S256`).
    pub(crate) x5t: Option<[u8; 32]>,
}

impl Confirmation {
    /// The `cnf` of `claims` (or of an introspection answer, RFC 8705 §3.2, RFC 9449
    /// §6.2): `None` without one; refused when it is not an object, is empty, holds an
    /// unknown member or a thumbprint that is not base64url of 32 bytes.
    pub(crate) fn read(claims: &Map<String, Value>) -> Result<Option<Self>, InvalidToken> {
        let Some(cnf) = claims.get("cnf") else { return Ok(None) };
        let members = cnf.as_object().filter(|m| !m.is_empty()).ok_or(InvalidToken::Binding)?;
        let mut out = Self { jkt: None, x5t: None };
        for (name, value) in members {
            let slot = match name.as_str() {
                "jkt" => &mut out.jkt,
                "x5t#S256" => &mut out.x5t,
                _ => return Err(InvalidToken::Binding),
            };
            *slot = Some(thumbprint(value).ok_or(InvalidToken::Binding)?);
        }
        Ok(Some(out))
    }
}

/// `verification` with every sender-constrained token refused: what
/// [`Verifier::verify`](super::Verifier::verify) answers to callers that check no binding.
pub(crate) fn refuse_bound(verification: Verification) -> Verification {
    refuse_bound_traced(verification, ())
}

/// [`refuse_bound`], the refusal reported to `trace`.
pub(crate) fn refuse_bound_traced(verification: Verification, trace: impl Trace) -> Verification {
    let unbound = move |result: Result<VerifiedToken, AuthError>| match result {
        Ok(token) => {
            let bound = if token.is_sender_constrained() { Err(InvalidToken::Binding) } else { Ok(()) };
            traced(&trace, Check::Binding, bound)?;
            Ok(token)
        }
        other => other,
    };
    match verification {
        Verification::Ready(result) => Verification::Ready(unbound(result)),
        Verification::Pending(future) => Verification::Pending(Box::pin(async move { unbound(future.await) })),
    }
}

/// A base64url SHA-256 thumbprint: 43 characters, 32 bytes.
fn thumbprint(value: &Value) -> Option<[u8; 32]> {
    let text = value.as_str().filter(|t| t.len() == 43)?;
    URL_SAFE_NO_PAD.decode(text).ok()?.try_into().ok()
}

/// Which bindings a layer checks.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct BindingPolicy {
    /// DPoP is allowed or required (the `DPoP` scheme is a credential here).
    pub(crate) dpop: bool,
    /// Every token must be DPoP-bound and come with the `DPoP` scheme.
    pub(crate) dpop_required: bool,
    /// `x5t#S256` is checked against the connection's client certificate.
    pub(crate) certificates: bool,
}

/// What the request proves beside the token.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Presented<'a> {
    pub(crate) scheme: Scheme,
    /// The thumbprint of a checked DPoP proof's key.
    pub(crate) proof_key: Option<&'a [u8; 32]>,
    /// The thumbprint of the connection's TLS client certificate.
    pub(crate) certificate: Option<&'a [u8; 32]>,
}

/// Whether `confirmation` is satisfied by what the request `presented`.
pub(crate) fn check_binding(
    confirmation: Option<&Confirmation>,
    presented: Presented<'_>,
    policy: BindingPolicy,
) -> Result<(), InvalidToken> {
    let dpop_scheme = presented.scheme == Scheme::Dpop;
    if policy.dpop_required && !dpop_scheme {
        return Err(InvalidToken::DpopRequired);
    }
    let Some(cnf) = confirmation else {
        // RFC 9449 §7.1: the DPoP scheme is for DPoP-bound tokens only.
        return if dpop_scheme { Err(InvalidToken::Unbound) } else { Ok(()) };
    };
    match (cnf.jkt, dpop_scheme) {
        // RFC 9449 §7.2: a DPoP-bound token presented as Bearer is refused.
        (Some(_), false) => return Err(InvalidToken::Binding),
        (Some(_), true) if !policy.dpop => return Err(InvalidToken::Binding),
        (Some(jkt), true) if presented.proof_key != Some(&jkt) => return Err(InvalidToken::BindingMismatch),
        (Some(_), true) => {}
        (None, true) => return Err(InvalidToken::Unbound),
        (None, false) => {}
    }
    if let Some(x5t) = cnf.x5t {
        if !policy.certificates {
            return Err(InvalidToken::Binding);
        }
        if presented.certificate != Some(&x5t) {
            return Err(InvalidToken::BindingMismatch);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const A: &str = "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs";
    const B: &str = "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I";

    fn read(v: Value) -> Result<Option<Confirmation>, InvalidToken> {
        Confirmation::read(v.as_object().unwrap())
    }

    fn bytes(t: &str) -> [u8; 32] {
        thumbprint(&json!(t)).unwrap()
    }

    #[test]
    fn malformed_or_unknown_cnf_is_refused() {
        assert_eq!(read(json!({"sub": "u"})), Ok(None));
        assert_eq!(read(json!({"cnf": {"jkt": A}})), Ok(Some(Confirmation { jkt: Some(bytes(A)), x5t: None })));
        for cnf in [
            json!({}),
            json!({"other": 1}),
            json!({"jkt": A, "jwk": {}}),
            json!({"jkt": "short"}),
            json!({"jkt": format!("{A}=")}),
            json!({"x5t#S256": 5}),
            json!("jkt"),
            json!(null),
        ] {
            assert_eq!(read(json!({"cnf": cnf})), Err(InvalidToken::Binding), "{cnf}");
        }
    }

    #[test]
    fn binding_rules() {
        let (a, b) = (bytes(A), bytes(B));
        let dpop = Confirmation { jkt: Some(a), x5t: None };
        let cert = Confirmation { jkt: None, x5t: Some(b) };
        let both = Confirmation { jkt: Some(a), x5t: Some(b) };
        let allowed = BindingPolicy { dpop: true, dpop_required: false, certificates: true };
        let required = BindingPolicy { dpop_required: true, ..allowed };
        let off = BindingPolicy::default();
        let bearer = Presented { scheme: Scheme::Bearer, proof_key: None, certificate: None };
        let with_proof = |k| Presented { scheme: Scheme::Dpop, proof_key: Some(k), certificate: None };
        let with_cert = |c| Presented { certificate: Some(c), ..bearer };

        assert_eq!(check_binding(None, bearer, off), Ok(()));
        assert_eq!(check_binding(None, bearer, allowed), Ok(()));
        assert_eq!(check_binding(None, bearer, required), Err(InvalidToken::DpopRequired));
        assert_eq!(check_binding(None, with_proof(&a), allowed), Err(InvalidToken::Unbound));
        assert_eq!(check_binding(Some(&dpop), bearer, allowed), Err(InvalidToken::Binding));
        assert_eq!(check_binding(Some(&dpop), with_proof(&a), allowed), Ok(()));
        assert_eq!(check_binding(Some(&dpop), with_proof(&a), off), Err(InvalidToken::Binding));
        assert_eq!(check_binding(Some(&dpop), with_proof(&b), allowed), Err(InvalidToken::BindingMismatch));
        assert_eq!(check_binding(Some(&cert), with_cert(&b), allowed), Ok(()));
        assert_eq!(check_binding(Some(&cert), with_cert(&a), allowed), Err(InvalidToken::BindingMismatch));
        assert_eq!(check_binding(Some(&cert), bearer, allowed), Err(InvalidToken::BindingMismatch));
        assert_eq!(check_binding(Some(&cert), with_cert(&b), off), Err(InvalidToken::Binding));
        assert_eq!(check_binding(Some(&cert), with_cert(&b), required), Err(InvalidToken::DpopRequired));
        assert_eq!(check_binding(Some(&cert), with_proof(&a), allowed), Err(InvalidToken::Unbound));
        let proof_and_cert = Presented { certificate: Some(&b), ..with_proof(&a) };
        assert_eq!(check_binding(Some(&both), proof_and_cert, required), Ok(()));
        assert_eq!(check_binding(Some(&both), with_proof(&a), required), Err(InvalidToken::BindingMismatch));
        let no_certs = BindingPolicy { certificates: false, ..required };
        assert_eq!(check_binding(Some(&both), proof_and_cert, no_certs), Err(InvalidToken::Binding));
    }
}
