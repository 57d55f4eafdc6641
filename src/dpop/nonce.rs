//! Stateless server nonces (RFC 9449 §8, §9).
//!
//! A nonce is `base64url(step ‖ mac)`: `step` is the current time step (Unix time
//! divided by the step length) as 8 big-endian bytes, and `mac` the first 16 bytes of
//! HMAC-SHA256(secret, `"tower-bearer dpop nonce v1"` ‖ step). Nothing is stored: any
//! instance holding the secret checks any instance's nonce, and nobody without it can
//! make one for a step to come. The nonce of the current step and of the one before
//! are accepted, so a nonce lives between one and two steps.

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac as _};
use http::HeaderValue;
use sha2::{Digest as _, Sha256};

use crate::ConfigError;

/// Separates these MACs from any other use of the secret.
const CONTEXT: &[u8] = b"tower-bearer dpop nonce v1";
const STEP_LEN: usize = 8;
const MAC_LEN: usize = 16;
const NONCE_BYTES: usize = STEP_LEN + MAC_LEN;
/// base64url without padding of [`NONCE_BYTES`] (a multiple of 3: no partial group).
const NONCE_CHARS: usize = NONCE_BYTES / 3 * 4;

/// The secret server nonces are derived from. Share it across a fleet.
///
/// `Debug` never shows it.
///
/// ```
/// use tower_bearer::dpop::NonceSecret;
/// let secret = NonceSecret::from_bytes(b"0123456789abcdef0123456789abcdef")?;
/// assert_eq!(format!("{secret:?}"), "NonceSecret([redacted])");
/// assert!(NonceSecret::from_bytes(b"too short").is_err());
/// # Ok::<(), tower_bearer::ConfigError>(())
/// ```
#[derive(Clone)]
pub struct NonceSecret([u8; 32]);

impl std::fmt::Debug for NonceSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("NonceSecret([redacted])")
    }
}

impl NonceSecret {
    /// A secret from at least 32 bytes (e.g. 32 random bytes from a secret store).
    /// The key is the SHA-256 of all of them, so every byte given counts; the same
    /// bytes on every instance give the same nonces.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, ConfigError> {
        if bytes.len() < 32 {
            return Err(ConfigError::new(format!(
                "the DPoP nonce secret needs at least 32 bytes, got {}",
                bytes.len()
            )));
        }
        Ok(Self(Sha256::digest(bytes).into()))
    }

    /// A random secret for this process: enough for one instance; a fleet behind one
    /// load balancer needs a shared secret ([`from_bytes`](Self::from_bytes)), or a
    /// nonce from one instance is refused by the others.
    pub fn random() -> Result<Self, ConfigError> {
        let mut key = [0u8; 32];
        crate::random::fill(&mut key)
            .map_err(|e| ConfigError::with_source("no random bytes for the DPoP nonce secret", e))?;
        Ok(Self(key))
    }
}

/// What a presented nonce is worth.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NonceCheck {
    /// Issued in the current step.
    Current,
    /// Issued in the step before: accepted, and the answer carries a fresh nonce.
    Previous,
    /// Not ours, malformed, or of another step.
    Invalid,
}

/// Issues and checks nonces.
#[derive(Clone)]
pub(crate) struct Nonces {
    /// HMAC keyed with the secret, cloned for each nonce.
    keyed: Hmac<Sha256>,
    step: Duration,
}

impl std::fmt::Debug for Nonces {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Nonces").field("step", &self.step).finish_non_exhaustive()
    }
}

impl Nonces {
    pub(crate) fn new(secret: NonceSecret, step: Duration) -> Self {
        // HMAC pads a key shorter than the hash's block to the block with zeros, so the
        // 32-byte secret padded here is the same key, and keying cannot fail.
        let mut block = hmac::digest::Key::<Hmac<Sha256>>::default();
        for (out, byte) in block.iter_mut().zip(secret.0) {
            *out = byte;
        }
        Self { keyed: <Hmac<Sha256> as hmac::digest::KeyInit>::new(&block), step }
    }

    fn step_at(&self, now: u64) -> u64 {
        now / self.step.as_secs().max(1)
    }

    fn mac(&self, step: u64) -> Hmac<Sha256> {
        let mut mac = self.keyed.clone();
        mac.update(CONTEXT);
        mac.update(&step.to_be_bytes());
        mac
    }

    /// The nonce for the step of `now` (Unix seconds), for a `DPoP-Nonce` header.
    pub(crate) fn issue(&self, now: u64) -> HeaderValue {
        let step = self.step_at(now);
        let mut raw = [0u8; NONCE_BYTES];
        let (step_part, mac_part) = raw.split_at_mut(STEP_LEN);
        step_part.copy_from_slice(&step.to_be_bytes());
        let tag = self.mac(step).finalize().into_bytes();
        for (out, byte) in mac_part.iter_mut().zip(tag.iter()) {
            *out = *byte;
        }
        // base64url is visible ASCII, always a valid header value; the fallback is
        // never sent, and would be refused by `check` if it were.
        HeaderValue::from_str(&URL_SAFE_NO_PAD.encode(raw)).unwrap_or(HeaderValue::from_static("-"))
    }

    /// What `nonce` (as the proof carries it) is worth at `now` (Unix seconds).
    pub(crate) fn check(&self, nonce: &str, now: u64) -> NonceCheck {
        if nonce.len() != NONCE_CHARS {
            return NonceCheck::Invalid;
        }
        let mut raw = [0u8; NONCE_BYTES];
        if URL_SAFE_NO_PAD.decode_slice(nonce, &mut raw) != Ok(NONCE_BYTES) {
            return NonceCheck::Invalid;
        }
        let (step_part, mac_part) = raw.split_at(STEP_LEN);
        let Ok(step_bytes) = <[u8; STEP_LEN]>::try_from(step_part) else { return NonceCheck::Invalid };
        let step = u64::from_be_bytes(step_bytes);
        // Constant time: a forger learns nothing from how long the comparison took.
        if self.mac(step).verify_truncated_left(mac_part).is_err() {
            return NonceCheck::Invalid;
        }
        let current = self.step_at(now);
        if step == current {
            NonceCheck::Current
        } else if current.checked_sub(1) == Some(step) {
            NonceCheck::Previous
        } else {
            NonceCheck::Invalid
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const STEP: Duration = Duration::from_secs(60);
    const NOW: u64 = 1_700_000_000;

    fn nonces(secret: &[u8]) -> Nonces {
        Nonces::new(NonceSecret::from_bytes(secret).unwrap(), STEP)
    }

    fn issued(n: &Nonces, now: u64) -> String {
        n.issue(now).to_str().unwrap().to_owned()
    }

    #[test]
    fn an_issued_nonce_is_current_for_its_step() {
        let n = nonces(&[7; 32]);
        let nonce = issued(&n, NOW);
        assert_eq!(n.check(&nonce, NOW), NonceCheck::Current);
        let step_start = NOW / 60 * 60;
        assert_eq!(n.check(&nonce, step_start), NonceCheck::Current);
        assert_eq!(n.check(&nonce, step_start + 59), NonceCheck::Current);
        assert_eq!(issued(&n, step_start + 59), nonce, "one nonce per step");
        assert_ne!(issued(&n, step_start + 60), nonce, "a new step, a new nonce");
    }

    #[test]
    fn the_previous_step_is_accepted_as_previous_and_older_ones_are_not() {
        let n = nonces(&[7; 32]);
        let nonce = issued(&n, NOW);
        assert_eq!(n.check(&nonce, NOW + 60), NonceCheck::Previous);
        assert_eq!(n.check(&nonce, NOW + 120), NonceCheck::Invalid, "two steps old");
        assert_eq!(n.check(&nonce, NOW + 3600), NonceCheck::Invalid);
    }

    #[test]
    fn a_nonce_of_a_future_step_is_invalid() {
        let n = nonces(&[7; 32]);
        assert_eq!(n.check(&issued(&n, NOW + 60), NOW), NonceCheck::Invalid);
        assert_eq!(n.check(&issued(&n, u64::MAX), NOW), NonceCheck::Invalid);
        // Step 0 at time 0 has no previous step: no underflow.
        assert_eq!(n.check(&issued(&n, 60), 0), NonceCheck::Invalid);
        assert_eq!(n.check(&issued(&n, 0), 0), NonceCheck::Current);
    }

    #[test]
    fn a_forged_or_mangled_nonce_is_invalid() {
        let n = nonces(&[7; 32]);
        let nonce = issued(&n, NOW);
        let mut raw = URL_SAFE_NO_PAD.decode(&nonce).unwrap();
        for i in 0..raw.len() {
            raw[i] ^= 1;
            let flipped = URL_SAFE_NO_PAD.encode(&raw);
            assert_eq!(n.check(&flipped, NOW), NonceCheck::Invalid, "byte {i} flipped");
            raw[i] ^= 1;
        }
        // Another step with a MAC copied from this one.
        let mut moved = raw.clone();
        moved[..8].copy_from_slice(&(NOW / 60 - 1).to_be_bytes());
        assert_eq!(n.check(&URL_SAFE_NO_PAD.encode(&moved), NOW), NonceCheck::Invalid);

        for bad in
            ["", "x", &nonce[1..], &format!("{nonce}A"), &format!("{}=", &nonce[..31]), &nonce.replace(|_| true, "*")]
        {
            assert_eq!(n.check(bad, NOW), NonceCheck::Invalid, "{bad:?}");
        }
        // Standard base64 characters are not base64url.
        let standard = base64::engine::general_purpose::STANDARD_NO_PAD.encode([0xfb; 24]);
        assert!(standard.contains('+') || standard.contains('/'));
        assert_eq!(n.check(&standard, NOW), NonceCheck::Invalid);
    }

    #[test]
    fn a_nonce_from_another_secret_is_invalid() {
        let (ours, theirs) = (nonces(&[7; 32]), nonces(&[8; 32]));
        assert_eq!(ours.check(&issued(&theirs, NOW), NOW), NonceCheck::Invalid);
        // One byte more is another secret too: every byte counts.
        let longer = nonces(&[7; 33]);
        assert_eq!(ours.check(&issued(&longer, NOW), NOW), NonceCheck::Invalid);
        // Two random secrets differ.
        let a = Nonces::new(NonceSecret::random().unwrap(), STEP);
        let b = Nonces::new(NonceSecret::random().unwrap(), STEP);
        assert_eq!(a.check(&issued(&a, NOW), NOW), NonceCheck::Current);
        assert_eq!(a.check(&issued(&b, NOW), NOW), NonceCheck::Invalid);
    }

    #[test]
    fn the_same_secret_on_two_instances_gives_the_same_nonces() {
        let (a, b) = (nonces(&[9; 40]), nonces(&[9; 40]));
        assert_eq!(b.check(&issued(&a, NOW), NOW), NonceCheck::Current);
    }

    #[test]
    fn a_nonce_is_nqchar_and_base64url() {
        let n = nonces(&[7; 32]);
        for now in [0, 1, NOW, NOW + 61, u64::MAX] {
            let nonce = issued(&n, now);
            assert_eq!(nonce.len(), NONCE_CHARS);
            // RFC 9449 §8.1: nonce = 1*NQCHAR; NQCHAR = %x21 / %x23-5B / %x5D-7E.
            assert!(nonce.bytes().all(|b| b == 0x21 || (0x23..=0x5b).contains(&b) || (0x5d..=0x7e).contains(&b)));
            assert!(nonce.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'), "{nonce}");
        }
    }

    #[test]
    fn short_secrets_are_refused_and_debug_shows_no_bytes() {
        let err = NonceSecret::from_bytes(&[1; 31]).unwrap_err();
        assert!(err.to_string().contains("at least 32 bytes"), "{err}");
        let secret = NonceSecret::from_bytes(&[0xab; 32]).unwrap();
        assert_eq!(format!("{secret:?}"), "NonceSecret([redacted])");
        assert_eq!(format!("{:?}", Nonces::new(secret, STEP)), "Nonces { step: 60s, .. }");
    }

    #[test]
    fn the_padded_key_is_the_hmac_of_the_secret() {
        // Cross-check the zero padding against keying HMAC with the 32 bytes directly.
        let secret = NonceSecret::from_bytes(&[3; 32]).unwrap();
        let mut direct = <Hmac<Sha256> as hmac::digest::KeyInit>::new_from_slice(&secret.0).unwrap();
        direct.update(CONTEXT);
        direct.update(&(NOW / 60).to_be_bytes());
        let ours = Nonces::new(secret, STEP).mac(NOW / 60);
        assert_eq!(ours.finalize().into_bytes(), direct.finalize().into_bytes());
    }
}
