//! Putting a token on a request: `Authorization: Bearer`, or for a DPoP-bound token
//! `Authorization: DPoP` and a fresh proof (RFC 9449 §7.1) naming the request's method
//! and URL, the token's hash and the server's latest nonce; then deciding, from the
//! answer, whether to send the request once more.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use http::header::AUTHORIZATION;
use http::{HeaderMap, HeaderValue, Method, StatusCode};
use url::Url;

use super::challenge::{nonce_requested, token_refused};
use super::{AccessToken, ClientError};
use crate::outbound::OutboundError;
use crate::signing::DpopKey;
use crate::token::{DPOP, DPOP_NONCE};

/// Origins whose latest nonce is remembered; the oldest is forgotten first (it costs
/// one `use_dpop_nonce` round trip to learn again).
const MAX_ORIGINS: usize = 64;

/// Longest nonce taken from a server (RFC 9449 sets no limit; real ones are short).
const MAX_NONCE_LEN: usize = 1024;

/// A request's URI as the sending client holds it.
pub(crate) enum RequestUri<'a> {
    /// An `http` request (a tower client service).
    Http(&'a http::Uri),
    /// A reqwest request, or the token endpoint.
    Url(&'a Url),
}

/// What a proof names: `htu` (scheme, authority and path; no query, fragment or
/// user info, RFC 9449 §4.2), and the origin whose nonce it carries.
pub(crate) struct Target {
    pub(crate) htu: String,
    pub(crate) origin: String,
}

impl Target {
    /// The proof target of `uri`. A URI without scheme and authority (a request inside
    /// a tonic `Channel`, or a bare path) names no URL, so it cannot be proved.
    pub(crate) fn of(uri: RequestUri<'_>) -> Result<Self, ClientError> {
        let mut url = match uri {
            RequestUri::Url(url) => url.clone(),
            RequestUri::Http(uri) => {
                let (Some(scheme), Some(authority)) = (uri.scheme_str(), uri.authority()) else {
                    return Err(ClientError::proof(OutboundError::new(format!(
                        "the request URI {} has no scheme and authority, so no DPoP proof can name it \
                         (give the client service absolute URIs, e.g. a tonic client made with `with_origin`)",
                        uri.path()
                    ))));
                };
                Url::parse(&format!("{scheme}://{authority}{}", uri.path())).map_err(|e| {
                    ClientError::proof(OutboundError::caused_by("the request URI is not a URL a proof can name", e))
                })?
            }
        };
        if !matches!(url.scheme(), "http" | "https") {
            let message = format!("a DPoP proof names an http or https URL, not {}:", url.scheme());
            return Err(ClientError::proof(OutboundError::new(message)));
        }
        url.set_query(None);
        url.set_fragment(None);
        // Never a password in a signed claim the server logs.
        let _ = url.set_username("");
        let _ = url.set_password(None);
        Ok(Self { origin: url.origin().ascii_serialization(), htu: url.into() })
    }
}

/// A signed proof for `htm` to `htu`, with `ath` of `token` and `nonce` when given.
pub(crate) fn proof(
    key: &DpopKey,
    htm: &str,
    htu: &str,
    token: Option<&str>,
    nonce: Option<&str>,
) -> Result<String, ClientError> {
    let mut proof = key.proof(htm, htu);
    if let Some(token) = token {
        proof = proof.access_token(token);
    }
    if let Some(nonce) = nonce {
        proof = proof.nonce(nonce);
    }
    proof.sign().map_err(|e| ClientError::proof(OutboundError::caused_by("could not sign a DPoP proof", e)))
}

/// The `DPoP-Nonce` of an answer (RFC 9449 §8.1: `1*NQCHAR`), if it holds exactly one
/// well-formed nonce.
pub(crate) fn nonce_in(headers: &HeaderMap) -> Option<Arc<str>> {
    let mut values = headers.get_all(DPOP_NONCE).iter();
    let (Some(value), None) = (values.next(), values.next()) else { return None };
    let nqchar = |b: u8| b == 0x21 || (0x23..=0x5b).contains(&b) || (0x5d..=0x7e).contains(&b);
    let text = value.to_str().ok()?;
    (!text.is_empty() && text.len() <= MAX_NONCE_LEN && text.bytes().all(nqchar)).then(|| text.into())
}

/// A header value that HTTP/2 never indexes and `Debug` never shows.
pub(crate) fn sensitive(text: String, what: &str) -> Result<HeaderValue, ClientError> {
    let mut value = HeaderValue::try_from(text)
        .map_err(|_| ClientError::protocol(OutboundError::new(format!("{what} is not a valid header value"))))?;
    value.set_sensitive(true);
    Ok(value)
}

/// Puts tokens on requests and remembers each resource server's latest nonce
/// (bounded, [`MAX_ORIGINS`]). Cheap to clone; clones share the nonces.
#[derive(Clone, Default)]
pub(crate) struct Presenter {
    nonces: Arc<Mutex<Nonces>>,
}

/// `(origin, latest nonce)`, the most recently learned last.
type Nonces = VecDeque<(String, Arc<str>)>;

/// What one request carried, to judge its answer by.
pub(crate) struct Presented {
    /// The origin the proof was made for; `None` for a `Bearer` token.
    origin: Option<String>,
    /// The nonce the proof carried.
    nonce: Option<Arc<str>>,
}

/// The retries a request has had: at most one for a nonce, one for a fresh token.
#[derive(Default)]
pub(crate) struct Retries {
    nonce: bool,
    token: bool,
}

/// What to do once an answer is in.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Next {
    /// Hand it to the caller.
    Answer,
    /// Send again with the same token and a proof carrying the server's new nonce.
    SameToken,
    /// Drop the token, and send again with a fresh one.
    FreshToken,
}

impl Presenter {
    /// Sets `Authorization` (and for a bound token `DPoP`) on `headers` for a request
    /// with `method` to `uri`.
    pub(crate) fn present(
        &self,
        token: &AccessToken,
        method: &Method,
        uri: RequestUri<'_>,
        headers: &mut HeaderMap,
    ) -> Result<Presented, ClientError> {
        let Some(key) = token.dpop_key() else {
            headers.insert(AUTHORIZATION, sensitive(format!("Bearer {}", token.secret()), "the access token")?);
            return Ok(Presented { origin: None, nonce: None });
        };
        let Target { htu, origin } = Target::of(uri)?;
        let nonce = self.nonce(&origin);
        let proof = proof(key, method.as_str(), &htu, Some(token.secret()), nonce.as_deref())?;
        headers.insert(AUTHORIZATION, sensitive(format!("DPoP {}", token.secret()), "the access token")?);
        headers.insert(DPOP, sensitive(proof, "the DPoP proof")?);
        Ok(Presented { origin: Some(origin), nonce })
    }

    /// Learns the nonce of an answer to a DPoP request, and says whether to send the
    /// request again: once with the same token when the server asks for a nonce it has
    /// just given (RFC 9449 §9), once with a fresh token when it refused the token.
    pub(crate) fn next(
        &self,
        sent: &Presented,
        status: StatusCode,
        headers: &HeaderMap,
        retries: &mut Retries,
    ) -> Next {
        if let Some(origin) = &sent.origin {
            let fresh = nonce_in(headers);
            if let Some(nonce) = &fresh {
                self.remember(origin, nonce.clone());
            }
            if !retries.nonce && fresh.is_some() && fresh != sent.nonce && nonce_requested(status, headers) {
                retries.nonce = true;
                return Next::SameToken;
            }
        }
        if !retries.token && token_refused(status, headers) {
            retries.token = true;
            return Next::FreshToken;
        }
        Next::Answer
    }

    fn nonce(&self, origin: &str) -> Option<Arc<str>> {
        let nonces = self.nonces.lock().unwrap_or_else(|p| p.into_inner());
        nonces.iter().find(|(o, _)| o == origin).map(|(_, n)| n.clone())
    }

    fn remember(&self, origin: &str, nonce: Arc<str>) {
        let mut nonces = self.nonces.lock().unwrap_or_else(|p| p.into_inner());
        nonces.retain(|(o, _)| o != origin);
        nonces.push_back((origin.to_owned(), nonce));
        while nonces.len() > MAX_ORIGINS {
            nonces.pop_front();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_drop_query_fragment_and_user_info() {
        let uri: http::Uri = "https://user:pw@API.example.com:443/a/../items?page=2".parse().unwrap();
        let t = Target::of(RequestUri::Http(&uri)).unwrap();
        assert_eq!((t.htu.as_str(), t.origin.as_str()), ("https://api.example.com/items", "https://api.example.com"));
        let url = Url::parse("http://127.0.0.1:8080/x?q=1#frag").unwrap();
        let t = Target::of(RequestUri::Url(&url)).unwrap();
        assert_eq!((t.htu.as_str(), t.origin.as_str()), ("http://127.0.0.1:8080/x", "http://127.0.0.1:8080"));
        let path_only: http::Uri = "/pkg.Service/Method".parse().unwrap();
        let err = Target::of(RequestUri::Http(&path_only)).err().unwrap();
        assert!(err.to_string().contains("no scheme and authority"), "{err}");
    }

    #[test]
    fn nonces_are_bounded_per_origin() {
        let p = Presenter::default();
        for i in 0..100 {
            p.remember(&format!("https://o{i}"), format!("n{i}").into());
        }
        p.remember("https://o99", "again".into());
        assert_eq!(p.nonces.lock().unwrap().len(), MAX_ORIGINS);
        assert_eq!(p.nonce("https://o0"), None, "the oldest is forgotten");
        assert_eq!(p.nonce("https://o99").as_deref(), Some("again"));
    }

    #[test]
    fn only_well_formed_nonces_are_taken() {
        let with = |values: &[&[u8]]| {
            let mut h = HeaderMap::new();
            for v in values {
                h.append(DPOP_NONCE, HeaderValue::from_bytes(v).unwrap());
            }
            nonce_in(&h)
        };
        assert_eq!(with(&[b"eyJ7S_zG.eyJH0-Z.HX4w-7v"]).as_deref(), Some("eyJ7S_zG.eyJH0-Z.HX4w-7v"));
        assert_eq!(with(&[b"a\"b"]), None);
        assert_eq!(with(&[b"a b"]), None);
        assert_eq!(with(&[b"a", b"b"]), None);
        assert_eq!(with(&[&[b'n'; MAX_NONCE_LEN + 1]]), None);
    }
}
