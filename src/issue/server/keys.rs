//! The server's signing keys: a ring rotated the way RFC 7517 §4.5 and OpenID
//! Connect Core §10.1.1 describe. A new key is published at once and signs only
//! after the publish delay, when every cache of the JWKS has seen it; a key that
//! stopped signing stays published until every token it signed has expired.
//! Everything is a function of the server's clock: no timer, no background task.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use arc_swap::ArcSwap;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde_json::{Map, Value, json};

use super::{AuthorizationServer, AuthorizationServerBuilder};
use crate::JwtVerifierBuilder;
use crate::issue::LocalIssuer;
use crate::keys::{KeyError, KeySet, KeyStore, Refresh, VerificationKey};
use crate::metadata::{etag_of, serve_document};
use crate::verify::{Clock, Issuer, JwtVerifier};
use crate::{Algorithm, BoxFuture, ConfigError};

/// Longest any cache may keep the JWKS (`Cache-Control: max-age`).
const JWKS_MAX_AGE: Duration = Duration::from_secs(300);

/// How much longer than the JWKS may be cached a new key waits before it signs:
/// slack for clocks and for instances of the server rotating a little apart.
const PUBLISH_MARGIN: Duration = Duration::from_secs(60);

/// Clock skew verifiers allow past `exp` (the crate's default leeway): a retired
/// key stays published that much longer.
const VERIFIER_LEEWAY: Duration = Duration::from_secs(60);

/// Most keys published at once; rotating faster than tokens expire is refused
/// rather than growing the JWKS without bound.
const MAX_PUBLISHED_KEYS: usize = 8;

/// The key settings of the builder.
pub(crate) struct KeySettings {
    publish_delay: Duration,
    previous: Vec<String>,
}

impl Default for KeySettings {
    fn default() -> Self {
        Self { publish_delay: JWKS_MAX_AGE.saturating_add(PUBLISH_MARGIN), previous: Vec::new() }
    }
}

impl AuthorizationServerBuilder {
    /// How long a key given to [`AuthorizationServer::rotate_key`] is published
    /// before it signs (6 minutes: the JWKS's `max-age` of 5 minutes plus 1). The
    /// JWKS is served with `max-age` of this delay less a minute (at most 5 minutes),
    /// so every cache that honours it knows the key before the first token it signs.
    pub fn key_publish_delay(mut self, delay: Duration) -> Self {
        self.keys.publish_delay = delay;
        self
    }

    /// Also publishes `jwk` (a public or private JWK; it never signs), for as long
    /// as tokens signed with it may live after the server starts: the key a previous
    /// run of the server signed with, so its tokens keep verifying across a restart
    /// that changes the signing key.
    pub fn previous_key(mut self, jwk: &str) -> Self {
        self.keys.previous.push(jwk.to_owned());
        self
    }
}

impl AuthorizationServer {
    /// Rotates the signing key to the private JWK `private_jwk` (asymmetric: RSA, EC
    /// or OKP, with a `kid` not already published). It is published in the JWKS at
    /// once and signs from [`key_publish_delay`](AuthorizationServerBuilder::key_publish_delay)
    /// on; the key signing until then stays published until its last token has
    /// expired (the longest access-token lifetime plus a minute of leeway), then
    /// drops off. Run it on every instance of the server within a minute of each
    /// other.
    ///
    /// ```
    /// use tower_bearer::issue::{IssuerKey, KeyType};
    /// use tower_bearer::issue::server::AuthorizationServer;
    ///
    /// let old = IssuerKey::generate(KeyType::Ed25519, Some("2024")).unwrap();
    /// let server = AuthorizationServer::builder("https://auth.example.com", &old.private_jwk().to_json())
    ///     .audience("https://api.example.com")
    ///     .build()
    ///     .unwrap();
    /// let new = IssuerKey::generate(KeyType::Ed25519, Some("2025")).unwrap();
    /// server.rotate_key(&new.private_jwk().to_json()).unwrap();
    /// assert_eq!(server.jwks()["keys"].as_array().unwrap().len(), 2); // published at once
    /// assert_eq!(server.signing_kid(), "2024"); // signs after the publish delay
    /// ```
    pub fn rotate_key(&self, private_jwk: &str) -> Result<(), ConfigError> {
        self.inner.keys.rotate(private_jwk)
    }

    /// The published keys (RFC 7517 JWK set), the signing key first: what `/jwks`
    /// serves.
    pub fn jwks(&self) -> Value {
        self.inner.keys.jwks()
    }

    /// The `kid` of the key that signs now.
    pub fn signing_kid(&self) -> String {
        self.inner.keys.signer().inner.kid.clone()
    }

    /// The key that signs now.
    pub(crate) fn signer(&self) -> LocalIssuer {
        self.inner.keys.signer()
    }

    /// A verifier of this server's JWT access tokens (its issuer, audience, clock and
    /// leeway), over every published key: tokens of a key being retired verify until
    /// it drops off. No network I/O.
    pub(crate) fn verifier_builder(&self) -> JwtVerifierBuilder {
        self.inner.keys.verifier_builder()
    }
}

/// `GET`/`HEAD` of the JWKS (RFC 7517 §8.5 media type), built from the ring now.
pub(crate) async fn jwks_endpoint(
    State(server): State<AuthorizationServer>,
    method: Method,
    headers: HeaderMap,
) -> Response {
    let body = Bytes::from(serde_json::to_vec(&server.jwks()).unwrap_or_default());
    let cache = HeaderValue::from_str(&format!("public, max-age={}", server.inner.keys.max_age.as_secs()))
        .unwrap_or_else(|_| HeaderValue::from_static("public, max-age=0"));
    serve_document(&body, &etag_of(&body), "application/jwk-set+json", cache, &method, &headers).into_response()
}

/// The signing keys of one server and what they publish.
pub(crate) struct KeyRing {
    shared: Arc<Shared>,
    /// Serialises rotations (each reads, then replaces, the ring).
    rotating: Mutex<()>,
    issuer: String,
    audience: String,
    publish_delay: Duration,
    /// How long a key stays published after it stopped signing.
    retire_after: Duration,
    /// `max-age` of the JWKS.
    max_age: Duration,
}

struct Shared {
    ring: ArcSwap<Ring>,
    clock: Arc<dyn Clock>,
}

/// The keys, oldest first, and the verification sets they make over time.
struct Ring {
    keys: Vec<RingKey>,
    /// The key that signs when no other can (the clock went back before every
    /// `signs_from`).
    fallback: LocalIssuer,
    /// The published sets in time order: each holds until `until` (exclusive).
    epochs: Vec<(u64, Arc<KeySet>)>,
}

#[derive(Clone)]
struct RingKey {
    /// `None` for a key that only verifies ([`AuthorizationServerBuilder::previous_key`]).
    signer: Option<LocalIssuer>,
    kid: String,
    thumbprint: Option<String>,
    public: Map<String, Value>,
    verification: VerificationKey,
    /// Signs from this time (seconds since the epoch) until a newer key does.
    signs_from: u64,
    /// Unpublished from this time; `u64::MAX` while no newer key signs.
    retires_at: u64,
}

impl KeyRing {
    /// The ring of a new server: `signing_key` signs, `settings.previous` are published.
    pub(crate) fn new(
        issuer: &str,
        audience: &str,
        signing_key: &str,
        settings: KeySettings,
        longest_token: Duration,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, ConfigError> {
        let now = clock.now();
        let retire_after = longest_token.saturating_add(VERIFIER_LEEWAY);
        let mut keys = Vec::with_capacity(settings.previous.len().saturating_add(1));
        for jwk in &settings.previous {
            let mut key = RingKey::published_only(jwk)?;
            key.retires_at = now.saturating_add(retire_after.as_secs());
            keys.push(key);
        }
        let signer = signer(issuer, audience, signing_key, &clock)?;
        keys.push(RingKey::signing(signer.clone(), 0)?);
        check_unique(&keys)?;
        if keys.len() > MAX_PUBLISHED_KEYS {
            return Err(ConfigError::new(format!("at most {MAX_PUBLISHED_KEYS} keys are published at once")));
        }
        let shared = Arc::new(Shared { ring: ArcSwap::from_pointee(Ring::new(keys, signer)), clock });
        Ok(Self {
            shared,
            rotating: Mutex::new(()),
            issuer: issuer.to_owned(),
            audience: audience.to_owned(),
            publish_delay: settings.publish_delay,
            retire_after,
            max_age: settings.publish_delay.saturating_sub(PUBLISH_MARGIN).min(JWKS_MAX_AGE),
        })
    }

    fn verifier_builder(&self) -> JwtVerifierBuilder {
        JwtVerifier::builder()
            .issuer(Issuer::new(&self.issuer).keys(RingKeys(self.shared.clone())))
            .audience(&self.audience)
            .leeway(VERIFIER_LEEWAY)
            .clock(self.shared.clock.clone())
    }

    fn now(&self) -> u64 {
        self.shared.clock.now()
    }

    /// The newest key whose time to sign has come.
    pub(crate) fn signer(&self) -> LocalIssuer {
        let ring = self.shared.ring.load();
        let now = self.now();
        ring.keys
            .iter()
            .rev()
            .filter(|k| k.signs_from <= now)
            .find_map(|k| k.signer.clone())
            .unwrap_or_else(|| ring.fallback.clone())
    }

    /// The keys published now, the signing key first.
    pub(crate) fn jwks(&self) -> Value {
        let ring = self.shared.ring.load();
        let now = self.now();
        let signing = self.signer().inner.kid.clone();
        let mut published: Vec<&RingKey> = ring.keys.iter().filter(|k| now < k.retires_at).collect();
        published.sort_by_key(|k| k.kid != signing);
        json!({ "keys": published.into_iter().map(|k| Value::Object(k.public.clone())).collect::<Vec<_>>() })
    }

    fn rotate(&self, private_jwk: &str) -> Result<(), ConfigError> {
        let _one_at_a_time = self.rotating.lock().unwrap_or_else(PoisonError::into_inner);
        let now = self.now();
        let ring = self.shared.ring.load_full();
        let mut keys: Vec<RingKey> = ring.keys.iter().filter(|k| now < k.retires_at).cloned().collect();
        // A key that only verifies never signs: it does not push the new one back.
        let latest = keys.iter().filter(|k| k.signer.is_some()).map(|k| k.signs_from).max().unwrap_or(0);
        let signs_from = now.saturating_add(self.publish_delay.as_secs()).max(latest);
        let signer = signer(&self.issuer, &self.audience, private_jwk, &self.shared.clock)?;
        let retires_at = signs_from.saturating_add(self.retire_after.as_secs());
        for key in keys.iter_mut().filter(|k| k.signer.is_some()) {
            key.retires_at = key.retires_at.min(retires_at);
        }
        keys.push(RingKey::signing(signer, signs_from)?);
        check_unique(&keys)?;
        if keys.len() > MAX_PUBLISHED_KEYS {
            return Err(ConfigError::new(format!(
                "{MAX_PUBLISHED_KEYS} keys are published already: rotate again once one has retired"
            )));
        }
        self.shared.ring.store(Arc::new(Ring::new(keys, ring.fallback.clone())));
        Ok(())
    }
}

/// A [`LocalIssuer`] signing for the server with `jwk`; symmetric keys are refused
/// (the JWKS is public, so resource servers could not verify their tokens).
fn signer(issuer: &str, audience: &str, jwk: &str, clock: &Arc<dyn Clock>) -> Result<LocalIssuer, ConfigError> {
    let signer = LocalIssuer::new(issuer, jwk, audience)?.clock(clock.clone());
    if matches!(signer.inner.alg, Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512) {
        return Err(ConfigError::new(
            "the authorization server signs with an asymmetric key (RSA, EC or OKP): its keys are published",
        ));
    }
    Ok(signer)
}

/// No two keys share a `kid` or the key material.
fn check_unique(keys: &[RingKey]) -> Result<(), ConfigError> {
    for (i, key) in keys.iter().enumerate() {
        for earlier in keys.iter().take(i) {
            if earlier.kid == key.kid {
                return Err(ConfigError::new(format!("a key with kid {:?} is published already", key.kid)));
            }
            if earlier.thumbprint.is_some() && earlier.thumbprint == key.thumbprint {
                return Err(ConfigError::new(format!(
                    "key {:?} is key {:?} again (same thumbprint)",
                    key.kid, earlier.kid
                )));
            }
        }
    }
    Ok(())
}

impl RingKey {
    fn signing(signer: LocalIssuer, signs_from: u64) -> Result<Self, ConfigError> {
        let i = &signer.inner;
        let mut public = i.key.public().ok_or_else(|| ConfigError::new("the signing key has no public part"))?;
        public.insert("kid".into(), json!(i.kid));
        public.insert("alg".into(), json!(format!("{:?}", i.alg)));
        public.insert("use".into(), json!("sig"));
        let thumbprint = i.key.thumbprint();
        let kid = i.kid.clone();
        let verification = VerificationKey::from_jwk(&Value::Object(public.clone()).to_string())?;
        Ok(Self { signer: Some(signer), kid, thumbprint, public, verification, signs_from, retires_at: u64::MAX })
    }

    fn published_only(jwk: &str) -> Result<Self, ConfigError> {
        let key = crate::signing::PrivateJwk::from_json(jwk)?;
        let mut public = key.public().ok_or_else(|| ConfigError::new("a previous key is RSA, EC or OKP"))?;
        let thumbprint = key.thumbprint();
        let kid = key.kid().map(str::to_owned).or_else(|| thumbprint.clone()).unwrap_or_default();
        public.insert("kid".into(), json!(kid));
        public.entry("use").or_insert_with(|| json!("sig"));
        let verification = VerificationKey::from_jwk(&Value::Object(public.clone()).to_string())?;
        Ok(Self { signer: None, kid, thumbprint, public, verification, signs_from: u64::MAX, retires_at: u64::MAX })
    }
}

impl Ring {
    fn new(keys: Vec<RingKey>, fallback: LocalIssuer) -> Self {
        // The set changes only when a key retires: one epoch per retirement time,
        // the last one (keys not retiring) open-ended.
        let mut boundaries: Vec<u64> = keys.iter().map(|k| k.retires_at).filter(|&t| t < u64::MAX).collect();
        boundaries.sort_unstable();
        boundaries.dedup();
        boundaries.push(u64::MAX);
        let epochs = boundaries
            .into_iter()
            .map(|until| {
                let set = keys.iter().filter(|k| k.retires_at >= until).map(|k| k.verification.clone()).collect();
                (until, Arc::new(KeySet::new(set)))
            })
            .collect();
        Self { keys, fallback, epochs }
    }

    fn published_at(&self, now: u64) -> Option<Arc<KeySet>> {
        self.epochs.iter().find(|(until, _)| now < *until).map(|(_, set)| set.clone())
    }
}

/// The ring as the server's verifier sees it: every published key, no I/O.
struct RingKeys(Arc<Shared>);

impl KeyStore for RingKeys {
    fn current(&self) -> Option<Arc<KeySet>> {
        self.0.ring.load().published_at(self.0.clock.now())
    }

    fn refresh(&self, why: Refresh<'_>) -> BoxFuture<Result<Arc<KeySet>, KeyError>> {
        let result = match (why, self.current()) {
            (Refresh::NoKeys, Some(set)) => Ok(set),
            _ => Err(KeyError::UnknownKid),
        };
        Box::pin(std::future::ready(result))
    }

    fn refreshes(&self) -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::issue::{IssuerKey, KeyType};
    use crate::token::BearerToken;
    use crate::verify::{ManualClock, Verifier as _};

    const START: u64 = 1_700_000_000;

    fn key(kid: &str) -> String {
        IssuerKey::generate(KeyType::P256, Some(kid)).unwrap().private_jwk().to_json()
    }

    fn ring(clock: &ManualClock, settings: KeySettings) -> KeyRing {
        let clock: Arc<dyn Clock> = Arc::new(clock.clone());
        KeyRing::new("https://as.example", "api", &key("a"), settings, Duration::from_secs(3600), clock).unwrap()
    }

    fn kids(ring: &KeyRing) -> Vec<String> {
        let jwks = ring.jwks();
        jwks["keys"].as_array().unwrap().iter().map(|k| k["kid"].as_str().unwrap().to_owned()).collect()
    }

    async fn verifies(ring: &KeyRing, signer: &LocalIssuer) -> bool {
        let token = signer.token().subject("s").sign().unwrap();
        let verifier = ring.verifier_builder().build().unwrap();
        verifier.verify(&BearerToken::new(token.access_token())).resolve().await.is_ok()
    }

    #[tokio::test]
    async fn a_new_key_is_published_first_signs_later_and_the_old_retires_after_its_tokens() {
        let clock = ManualClock::at(START);
        let ring = ring(&clock, KeySettings::default());
        let old = ring.signer();
        ring.rotate(&key("b")).unwrap();
        assert_eq!(kids(&ring), ["a", "b"], "published at once, the signer first");
        clock.advance(Duration::from_secs(359));
        assert_eq!(ring.signer().inner.kid, "a", "signs only after the delay");
        clock.advance(Duration::from_secs(1));
        let new = ring.signer();
        assert_eq!(new.inner.kid, "b");
        assert_eq!(kids(&ring), ["b", "a"]);
        // The old key's tokens (signed up to now) live an hour, plus the leeway.
        clock.advance(Duration::from_secs(3600 + 60 - 1));
        assert!(verifies(&ring, &old).await, "still published");
        assert!(verifies(&ring, &new).await);
        clock.advance(Duration::from_secs(1));
        assert_eq!(kids(&ring), ["b"]);
        assert!(!verifies(&ring, &old).await, "retired: its kid is unknown");
        assert!(verifies(&ring, &new).await);
    }

    #[test]
    fn duplicates_symmetric_keys_and_too_many_keys_are_refused() {
        let clock = ManualClock::at(START);
        let ring = ring(&clock, KeySettings::default());
        let e = ring.rotate(&key("a")).unwrap_err().to_string();
        assert!(e.contains("kid \"a\" is published already"), "{e}");
        let same = ring.signer().inner.key.clone();
        let mut renamed = same.clone();
        renamed.set("kid", json!("a2"));
        let e = ring.rotate(&renamed.to_json()).unwrap_err().to_string();
        assert!(e.contains("same thumbprint"), "{e}");
        let secret = IssuerKey::generate(KeyType::Oct, Some("h")).unwrap().private_jwk().to_json();
        assert!(ring.rotate(&secret).unwrap_err().to_string().contains("asymmetric"));
        assert_eq!(kids(&ring), ["a"], "a refused key is not published");
        for n in 1..MAX_PUBLISHED_KEYS {
            ring.rotate(&key(&format!("k{n}"))).unwrap();
        }
        let e = ring.rotate(&key("one-too-many")).unwrap_err().to_string();
        assert!(e.contains("rotate again once one has retired"), "{e}");
    }

    #[test]
    fn rotations_in_a_row_each_sign_in_turn() {
        let clock = ManualClock::at(START);
        let ring = ring(&clock, KeySettings { publish_delay: Duration::from_secs(100), previous: Vec::new() });
        assert_eq!(ring.max_age, Duration::from_secs(40), "caches expire before the new key signs");
        ring.rotate(&key("b")).unwrap();
        clock.advance(Duration::from_secs(50));
        ring.rotate(&key("c")).unwrap();
        assert_eq!(ring.signer().inner.kid, "a");
        clock.advance(Duration::from_secs(50));
        assert_eq!(ring.signer().inner.kid, "b");
        clock.advance(Duration::from_secs(50));
        assert_eq!(ring.signer().inner.kid, "c");
        assert_eq!(kids(&ring), ["c", "a", "b"]);
        // `a` stopped at +100, `b` at +150: each leaves an hour and a minute later.
        clock.set(START + 100 + 3660);
        assert_eq!(kids(&ring), ["c", "b"]);
        clock.set(START + 150 + 3660);
        assert_eq!(kids(&ring), ["c"]);
    }

    #[tokio::test]
    async fn a_previous_key_is_published_never_signs_and_retires() {
        let clock = ManualClock::at(START);
        let previous = IssuerKey::generate(KeyType::Ed25519, Some("p")).unwrap();
        let settings =
            KeySettings { previous: vec![previous.public_jwks()["keys"][0].to_string()], ..KeySettings::default() };
        let ring = ring(&clock, settings);
        assert_eq!(ring.signer().inner.kid, "a");
        assert_eq!(kids(&ring), ["a", "p"]);
        let old = LocalIssuer::new("https://as.example", &previous.private_jwk().to_json(), "api")
            .unwrap()
            .clock(clock.clone());
        assert!(verifies(&ring, &old).await);
        clock.advance(Duration::from_secs(3660));
        assert_eq!(kids(&ring), ["a"]);
        assert!(!verifies(&ring, &old).await);
    }
}
