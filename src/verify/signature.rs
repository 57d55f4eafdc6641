//! Key selection and signature checks, on the crypto backend the features chose.

use jsonwebtoken::Algorithm;

use super::jws::Jws;
use super::trace::{Check, Trace, traced};
use crate::keys::{KeySet, Selection, VerificationKey};
use crate::reject::InvalidToken;

/// What a key set lookup decided.
pub(super) enum Step {
    /// The signature verifies with the key that has this fingerprint.
    Verified(u64),
    /// The `kid` is not in the set: ask the store to refetch.
    UnknownKid,
}

/// Key selection and the signature check, each reported to `trace`; the claims are
/// read afterwards.
pub(super) fn check_signature(token: &str, jws: &Jws, keys: &KeySet, trace: &impl Trace) -> Result<Step, InvalidToken> {
    let key = match keys.select(jws.kid.as_deref(), jws.alg) {
        Selection::Found(k) => Ok(k),
        Selection::KidNotFound => {
            // Not final: the caller may refetch the set and look again.
            trace.record(Check::KeyLookup, || Err(InvalidToken::UnknownKey.into()));
            return Ok(Step::UnknownKid);
        }
        Selection::AlgorithmMismatch => Err(InvalidToken::Algorithm),
        Selection::NoMatch if !keys.algorithms().contains(jws.alg) => Err(InvalidToken::Algorithm),
        Selection::NoMatch => Err(InvalidToken::UnknownKey),
    };
    let key = traced(trace, Check::KeyLookup, key)?;
    let signing_input = token.as_bytes().get(..jws.signing_input_len).ok_or(InvalidToken::Malformed);
    let verified = signing_input.and_then(|input| verify_with_key(key, jws.alg, input, &jws.signature));
    traced(trace, Check::Signature, verified)?;
    Ok(Step::Verified(key.fingerprint))
}

/// The crypto backend chosen by crate features, passed explicitly so that the
/// process-wide jsonwebtoken default (which panics when ambiguous) is never used.
pub(crate) fn crypto_provider() -> &'static jsonwebtoken::crypto::CryptoProvider {
    #[cfg(feature = "aws-lc-rs")]
    {
        &jsonwebtoken::crypto::aws_lc::DEFAULT_PROVIDER
    }
    #[cfg(all(feature = "rust-crypto", not(feature = "aws-lc-rs")))]
    {
        &jsonwebtoken::crypto::rust_crypto::DEFAULT_PROVIDER
    }
    #[cfg(not(any(feature = "aws-lc-rs", feature = "rust-crypto")))]
    {
        // Never compiled into a working crate: lib.rs emits compile_error! first.
        unreachable!("no crypto backend")
    }
}

// `&Vec` because jsonwebtoken's verifier trait is `Verifier<Vec<u8>>`.
#[allow(clippy::ptr_arg)]
pub(crate) fn verify_with_key(
    key: &VerificationKey,
    alg: Algorithm,
    message: &[u8],
    signature: &Vec<u8>,
) -> Result<(), InvalidToken> {
    #[cfg(feature = "aws-lc-rs")]
    if let Some(valid) = key.parsed.verify(key.decoding_key(), alg, message, signature) {
        return if valid { Ok(()) } else { Err(InvalidToken::Signature) };
    }
    let verifier =
        (crypto_provider().verifier_factory)(&alg, key.decoding_key()).map_err(|_| InvalidToken::Algorithm)?;
    verifier.verify(message, signature).map_err(|_| InvalidToken::Signature)
}
