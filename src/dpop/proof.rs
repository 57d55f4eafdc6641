//! Checking one DPoP proof (RFC 9449 §4.3), cheapest checks first: the header and
//! claims are judged before the key is parsed, the signature last. Recording the proof
//! as used is the layer's step after the token's binding passed (`replay.rs`).

use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use http::HeaderValue;
use jsonwebtoken::Algorithm;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use super::{Config, DPOP, NonceCheck, ReplayKey};
use crate::keys::VerificationKey;
use crate::keys::jwk::{Origin, parse_key};
use crate::reject::{AuthError, InvalidProof};
use crate::token::RequestHead;
use crate::verify::{decode_object, numeric_date, verify_with_key};

/// Cap on JSON nesting in a proof: a header holds the `jwk` object, nothing deeper.
const MAX_DEPTH: usize = 4;

/// Longest `jti` accepted (RFC 9449 §11.1: a server may refuse large ones).
const MAX_JTI_LEN: usize = 256;

/// A DPoP proof that passed every check. The layer puts it into the request's
/// extensions, beside the [`VerifiedToken`](crate::VerifiedToken), for handlers that
/// want the key the client proved (axum: `Extension<DpopProof>`).
#[derive(Clone)]
pub struct DpopProof {
    pub(crate) jkt: [u8; 32],
    jti: String,
    issued_at: u64,
    /// The proof is remembered until then (Unix seconds).
    pub(crate) usable_until: u64,
    /// The proof carried the previous server nonce: the answer sends the current one.
    pub(crate) stale_nonce: bool,
}

impl DpopProof {
    /// The RFC 7638 thumbprint of the proof key (base64url): the token's `cnf.jkt`.
    pub fn thumbprint(&self) -> String {
        URL_SAFE_NO_PAD.encode(self.jkt)
    }

    /// The proof's `jti`.
    pub fn jti(&self) -> &str {
        &self.jti
    }

    /// The proof's `iat`, in seconds since the Unix epoch.
    pub fn issued_at(&self) -> u64 {
        self.issued_at
    }

    /// What the replay store remembers this proof by.
    pub(crate) fn replay_key(&self) -> ReplayKey {
        ReplayKey::new(&self.jkt, &self.jti)
    }

    /// The replay store's record of this proof: its key, and until when it is usable.
    pub(crate) fn replay_record(&self) -> (ReplayKey, u64) {
        (self.replay_key(), self.usable_until)
    }
}

impl std::fmt::Debug for DpopProof {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DpopProof")
            .field("jkt", &self.thumbprint())
            .field("iat", &self.issued_at)
            .finish_non_exhaustive()
    }
}

/// A proof whose every other check passed; its signature is checked last, after the
/// token and its binding (so a request with a worthless token never costs one).
pub(crate) struct UnsignedProof {
    /// The `DPoP` header (a reference count, not a copy).
    value: HeaderValue,
    header_len: usize,
    signing_input_len: usize,
    signature: Vec<u8>,
    key: Header,
}

impl UnsignedProof {
    /// Checks the signature; a header whose key made a valid one is remembered.
    pub(crate) fn verify(self, config: &Config) -> Result<(), InvalidProof> {
        let bytes = self.value.as_bytes();
        let input = bytes.get(..self.signing_input_len).ok_or(InvalidProof::Malformed)?;
        let key = match &self.key {
            Header::Known(known) => &known.key,
            Header::Fresh(key) => key,
        };
        verify_with_key(&key.key, key.alg, input, &self.signature).map_err(|_| InvalidProof::Signature)?;
        if let (Header::Fresh(key), Some(header)) = (self.key, bytes.get(..self.header_len)) {
            config.keys.insert(header, key);
        }
        Ok(())
    }
}

/// Checks the `DPoP` header of `req` for a request carrying `token` (its `ath`), or
/// for a token request (`None`: no access token yet, RFC 9449 §5): everything but the
/// signature, which [`UnsignedProof::verify`] checks.
pub(crate) fn check_proof(
    config: &Config,
    req: &RequestHead<'_>,
    token: Option<&[u8]>,
    now: u64,
) -> Result<(DpopProof, UnsignedProof), AuthError> {
    let mut values = req.headers().get_all(DPOP).iter();
    let value = values.next().ok_or(InvalidProof::Missing)?;
    if values.next().is_some() {
        return Err(InvalidProof::Multiple.into());
    }
    if value.len() > config.max_proof_len {
        return Err(InvalidProof::Malformed.into());
    }
    let proof = value.to_str().map_err(|_| InvalidProof::Malformed)?;
    let mut parts = proof.split('.');
    let (Some(h), Some(p), Some(s), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
        return Err(InvalidProof::Malformed.into());
    };
    // A client signs every proof with the same key, so the header (typ, alg, jwk) is
    // the same bytes each time: its checks and the parsed key are looked up, not redone.
    let key = match config.keys.get(h) {
        Some(known) => Header::Known(known),
        None => {
            let header = object(h)?;
            let alg = check_header(config, &header)?;
            Header::Fresh(ProofKey::read(&header, alg)?)
        }
    };
    let claims = object(p)?;
    let claims = Claims::read(&claims)?;

    // Claims that need no key, cheapest first.
    if claims.htm != req.method().as_str() {
        return Err(InvalidProof::Method.into());
    }
    let oldest = now.saturating_sub(config.max_age.saturating_add(config.leeway));
    if claims.iat < oldest || claims.iat > now.saturating_add(config.leeway) {
        return Err(InvalidProof::IssuedAt.into());
    }
    if !config.origins.matches(claims.htu, req) {
        return Err(InvalidProof::Uri.into());
    }
    if let Some(token) = token {
        let ath = URL_SAFE_NO_PAD.encode(Sha256::digest(token));
        if claims.ath != Some(ath.as_str()) {
            return Err(InvalidProof::TokenHash.into());
        }
    }
    let stale_nonce = match &config.nonces {
        None => false,
        Some(nonces) => match claims.nonce.map(|n| nonces.check(n, now)) {
            Some(NonceCheck::Current) => false,
            Some(NonceCheck::Previous) => true,
            Some(NonceCheck::Invalid) | None => return Err(AuthError::UseDpopNonce),
        },
    };

    let signature = URL_SAFE_NO_PAD.decode(s).map_err(|_| InvalidProof::Malformed)?;
    let jkt = match &key {
        Header::Known(known) => known.key.jkt,
        Header::Fresh(key) => key.jkt,
    };
    let unsigned = UnsignedProof {
        value: value.clone(),
        header_len: h.len(),
        signing_input_len: h.len() + 1 + p.len(),
        signature,
        key,
    };
    let proof = DpopProof {
        jkt,
        jti: claims.jti.to_owned(),
        issued_at: claims.iat,
        // Acceptable while now ≤ iat + max_age + leeway; remembered one second longer.
        usable_until: claims.iat.saturating_add(config.max_age).saturating_add(config.leeway).saturating_add(1),
        stale_nonce,
    };
    Ok((proof, unsigned))
}

/// The proof's header: seen before with a valid signature, or read now.
enum Header {
    Known(Arc<KnownHeader>),
    Fresh(ProofKey),
}

/// A proof header that passed its checks: the algorithm and the parsed public key.
pub(crate) struct ProofKey {
    alg: Algorithm,
    key: VerificationKey,
    jkt: [u8; 32],
}

impl ProofKey {
    /// The header's `jwk`: a public key `alg` fits.
    fn read(header: &Map<String, Value>, alg: Algorithm) -> Result<Self, InvalidProof> {
        let jwk = header.get("jwk").and_then(Value::as_object).ok_or(InvalidProof::Key)?;
        let key = parse_key(jwk, Origin::Remote).map_err(|_| InvalidProof::Key)?;
        if !key.algorithms().contains(alg) {
            return Err(InvalidProof::Algorithm);
        }
        let jkt = crate::keys::thumbprint(jwk).ok_or(InvalidProof::Key)?;
        Ok(Self { alg, key, jkt })
    }
}

/// Proof headers already seen with a valid signature, by their exact encoded bytes.
/// Bounded; a miss only costs the parse it saves.
pub(crate) struct KeyCache {
    entries: quick_cache::sync::Cache<u64, Arc<KnownHeader>>,
    hasher: foldhash::quality::FixedState,
}

/// A remembered header and what it says.
struct KnownHeader {
    header: Box<[u8]>,
    key: ProofKey,
}

/// Longest proof header kept in the [`KeyCache`].
const MAX_CACHED_HEADER: usize = 2048;

/// Clients whose proof keys stay parsed at once.
const KEY_CACHE_ENTRIES: usize = 4096;

impl KeyCache {
    pub(crate) fn new() -> Self {
        Self { entries: quick_cache::sync::Cache::new(KEY_CACHE_ENTRIES), hasher: crate::random::os_seeded_hasher() }
    }

    fn get(&self, header: &str) -> Option<Arc<KnownHeader>> {
        use std::hash::BuildHasher as _;
        let known = self.entries.get(&self.hasher.hash_one(header.as_bytes()))?;
        // The hash only picks the slot: another header with the same hash is a miss.
        (*known.header == *header.as_bytes()).then_some(known)
    }

    fn insert(&self, header: &[u8], key: ProofKey) {
        use std::hash::BuildHasher as _;
        // A header this long holds no key worth keeping parsed (an RSA-4096 one is
        // about 1 KiB): not cached, so hostile headers cannot fill memory.
        if header.len() <= MAX_CACHED_HEADER {
            self.entries.insert(self.hasher.hash_one(header), Arc::new(KnownHeader { header: header.into(), key }));
        }
    }
}

/// Strict base64url of a JSON object with unique members, shallow.
fn object(part: &str) -> Result<Map<String, Value>, InvalidProof> {
    match decode_object(part, MAX_DEPTH) {
        Ok(Value::Object(map)) => Ok(map),
        _ => Err(InvalidProof::Malformed),
    }
}

/// `typ`, `alg` and `crit`; the `jwk` is read after the claims.
fn check_header(config: &Config, header: &Map<String, Value>) -> Result<Algorithm, InvalidProof> {
    // RFC 7515 §4.1.9: media types compare case-insensitively; `application/` may be omitted.
    let typ = header.get("typ").and_then(Value::as_str).ok_or(InvalidProof::Type)?;
    let typ = typ.to_ascii_lowercase();
    if typ.strip_prefix("application/").unwrap_or(&typ) != "dpop+jwt" {
        return Err(InvalidProof::Type);
    }
    let alg = match header.get("alg").and_then(Value::as_str) {
        // RFC 9864's fully specified name for EdDSA over Ed25519, which some clients send.
        Some("Ed25519") => Algorithm::EdDSA,
        Some(name) => name.parse::<Algorithm>().map_err(|_| InvalidProof::Algorithm)?,
        None => return Err(InvalidProof::Algorithm),
    };
    if !config.algorithms.contains(alg) {
        return Err(InvalidProof::Algorithm);
    }
    // No extension is implemented, so any `crit` is one we do not understand.
    if header.contains_key("crit") {
        return Err(InvalidProof::Malformed);
    }
    Ok(alg)
}

/// The proof's claims (RFC 9449 §4.2), typed.
struct Claims<'a> {
    jti: &'a str,
    htm: &'a str,
    htu: &'a str,
    iat: u64,
    ath: Option<&'a str>,
    nonce: Option<&'a str>,
}

impl<'a> Claims<'a> {
    fn read(claims: &'a Map<String, Value>) -> Result<Self, InvalidProof> {
        let text = |name: &str| claims.get(name).and_then(Value::as_str);
        let optional = |name: &str| match claims.get(name) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.as_str())),
            Some(_) => Err(InvalidProof::Malformed),
        };
        let jti = text("jti").filter(|j| !j.is_empty() && j.len() <= MAX_JTI_LEN).ok_or(InvalidProof::Malformed)?;
        Ok(Self {
            jti,
            htm: text("htm").ok_or(InvalidProof::Malformed)?,
            htu: text("htu").ok_or(InvalidProof::Malformed)?,
            iat: claims.get("iat").and_then(numeric_date).ok_or(InvalidProof::IssuedAt)?,
            ath: optional("ath")?,
            nonce: optional("nonce")?,
        })
    }
}
