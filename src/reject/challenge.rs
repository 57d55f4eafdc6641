//! RFC 6750 §3 `WWW-Authenticate: Bearer …` rendering.

use http::HeaderValue;

use super::{AuthError, ErrorCode};
use crate::token::Scheme;

/// What goes into every `WWW-Authenticate: Bearer` challenge besides the error.
///
/// ```
/// use tower_bearer::{Challenge, ErrorCode};
/// let challenge = Challenge::new("my-api")
///     .error_uri(ErrorCode::InvalidToken, "https://docs.example.com/auth#invalid")
///     .resource_metadata("https://api.example.com/.well-known/oauth-protected-resource");
/// let err = tower_bearer::AuthError::MissingToken;
/// assert_eq!(challenge.header_value(&err).to_str().unwrap(),
///     r#"Bearer realm="my-api", resource_metadata="https://api.example.com/.well-known/oauth-protected-resource""#);
/// ```
#[derive(Debug, Clone, Default)]
pub struct Challenge {
    realm: Option<String>,
    error_uris: Vec<(ErrorCode, String)>,
    resource_metadata: Option<String>,
    detailed: bool,
    /// Set by a layer with DPoP allowed or required.
    dpop: Option<DpopChallenge>,
    /// The scheme the request used (a layer keeps one challenge per scheme).
    presented: Scheme,
}

/// The DPoP side of a layer's challenges (RFC 9449 §7.1).
#[derive(Debug, Clone)]
struct DpopChallenge {
    /// `algs="…"`: the proof algorithms accepted.
    algs: String,
    /// DPoP required: no `Bearer` challenge at all.
    required: bool,
}

impl Challenge {
    /// A challenge carrying `realm="…"`.
    pub fn new(realm: impl Into<String>) -> Self {
        Self { realm: Some(realm.into()), ..Self::default() }
    }

    /// Sets the `realm` (`None` leaves it out).
    pub fn realm(mut self, realm: Option<String>) -> Self {
        self.realm = realm;
        self
    }

    /// Adds `error_uri="…"` to challenges carrying `code`.
    pub fn error_uri(mut self, code: ErrorCode, uri: impl Into<String>) -> Self {
        self.error_uris.retain(|(c, _)| *c != code);
        self.error_uris.push((code, uri.into()));
        self
    }

    /// Adds RFC 9728 `resource_metadata="…"` (the protected resource metadata URL).
    pub fn resource_metadata(mut self, url: impl Into<String>) -> Self {
        self.resource_metadata = Some(url.into());
        self
    }

    /// Sends the precise 401 reason as `error_description` (off by default).
    pub fn detailed(mut self, on: bool) -> Self {
        self.detailed = on;
        self
    }

    /// Whether precise 401 reasons are sent.
    pub fn is_detailed(&self) -> bool {
        self.detailed
    }

    #[cfg(feature = "dpop")]
    /// Challenges offer DPoP with `algs` (and no Bearer when `required`); `None` for
    /// Bearer only.
    pub(crate) fn with_dpop(mut self, dpop: Option<(String, bool)>) -> Self {
        self.dpop = dpop.map(|(algs, required)| DpopChallenge { algs, required });
        self
    }

    /// The challenge for requests that used `scheme`.
    pub(crate) fn presented(mut self, scheme: Scheme) -> Self {
        self.presented = scheme;
        self
    }

    /// Whether `error` is answered on the `DPoP` scheme (the one that carries a
    /// `DPoP-Nonce` when nonces are on).
    pub(crate) fn is_dpop(&self, error: &AuthError) -> bool {
        let Some(dpop) = &self.dpop else { return false };
        match error {
            AuthError::InvalidDpopProof(_) | AuthError::UseDpopNonce => true,
            _ if error.error_code().is_some() => self.presented == Scheme::Dpop || dpop.required,
            _ => dpop.required,
        }
    }

    /// The `WWW-Authenticate` value for `error`: RFC 6750 §3 for Bearer, RFC 9449 §7.1
    /// for DPoP. The error goes on the scheme the client used; without credentials
    /// every accepted scheme is offered (RFC 9449 §7.2).
    pub fn header_value(&self, error: &AuthError) -> HeaderValue {
        let mut out = String::with_capacity(96);
        match &self.dpop {
            None => self.push(&mut out, Scheme::Bearer, Some(error)),
            Some(_) if self.is_dpop(error) => self.push(&mut out, Scheme::Dpop, Some(error)),
            Some(_) => {
                self.push(&mut out, Scheme::Bearer, Some(error));
                out.push_str(", ");
                self.push(&mut out, Scheme::Dpop, None);
            }
        }
        // Every byte pushed is visible ASCII or a space, so this cannot fail; fall
        // back to the bare scheme rather than panic if that ever changes.
        HeaderValue::from_str(&out).unwrap_or_else(|_| HeaderValue::from_static("Bearer"))
    }

    /// One challenge: the scheme, `realm`, the error's parameters (if `error`), and
    /// for DPoP `algs`.
    fn push(&self, out: &mut String, scheme: Scheme, error: Option<&AuthError>) {
        out.push_str(scheme.name());
        let mut sep = " ";
        let mut param = |out: &mut String, name: &str, value: &str, quoted_string: bool| {
            out.push_str(sep);
            sep = ", ";
            out.push_str(name);
            out.push_str("=\"");
            push_sanitized(out, value, quoted_string);
            out.push('"');
        };
        if let Some(realm) = &self.realm {
            param(out, "realm", realm, true);
        }
        if let Some(error) = error
            && let Some(code) = error.error_code()
        {
            param(out, "error", code.as_str(), false);
            if let Some(desc) = error.description(self.detailed) {
                param(out, "error_description", desc, false);
            }
            if let Some((_, uri)) = self.error_uris.iter().find(|(c, _)| *c == code) {
                param(out, "error_uri", uri, false);
            }
            if let AuthError::Forbidden(i) = error
                && !i.scopes.is_empty()
            {
                param(out, "scope", &i.scopes.join(" "), false);
            }
        }
        if let (Scheme::Dpop, Some(dpop)) = (scheme, &self.dpop) {
            param(out, "algs", &dpop.algs, false);
        }
        if let Some(url) = &self.resource_metadata {
            param(out, "resource_metadata", url, true);
        }
    }
}

/// Appends `value` keeping only what RFC 6750 allows inside the quotes.
///
/// `error_description`, `error_uri` and `scope` exclude `"` and `\` entirely
/// (%x20-21 / %x23-5B / %x5D-7E), so those are replaced; `realm` is a
/// quoted-string, so they are escaped. Control and non-ASCII characters are dropped.
fn push_sanitized(out: &mut String, value: &str, quoted_string: bool) {
    for c in value.chars() {
        match c {
            '"' | '\\' if quoted_string => {
                out.push('\\');
                out.push(c);
            }
            '"' => out.push('\''),
            '\\' => out.push('/'),
            ' '..='~' => out.push(c),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reject::{Insufficient, InvalidToken};

    #[test]
    fn escapes_and_strips() {
        let c = Challenge::new("a\"b\\c\u{7}é");
        let v = c.header_value(&AuthError::MissingToken);
        assert_eq!(v.to_str().unwrap(), r#"Bearer realm="a\"b\\c""#);
        let e = AuthError::Forbidden(Insufficient {
            scopes: vec!["a".into(), "b".into()],
            description: "missing \"x\"".into(),
        });
        assert_eq!(
            c.realm(None).header_value(&e).to_str().unwrap(),
            r#"Bearer error="insufficient_scope", error_description="missing 'x'", scope="a b""#
        );
    }

    #[test]
    fn invalid_token_is_generic_unless_detailed() {
        let e = AuthError::InvalidToken(InvalidToken::Signature);
        let c = Challenge::new("r");
        assert!(c.header_value(&e).to_str().unwrap().contains("the access token is invalid"));
        let c = c.detailed(true);
        assert!(c.header_value(&e).to_str().unwrap().contains("signature is invalid"));
    }
}
