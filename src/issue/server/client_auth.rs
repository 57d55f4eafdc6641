//! Client authentication at the token, revocation and introspection endpoints
//! (RFC 6749 §2.3): `client_secret_basic` (with the §2.3.1 form encoding of id and
//! secret), `client_secret_post`, and `none` for public clients.

use std::sync::Arc;

use axum::http::{HeaderMap, header};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use super::client::{Client, ClientStore};
use super::error::OAuthError;
use super::limits::FailureBudget;
use super::params::Params;

/// How the client authenticated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum AuthMethod {
    /// `client_secret_basic`.
    Basic,
    /// `client_secret_post`.
    Post,
    /// `none`: a public client naming itself.
    None,
}

/// A client that proved who it is (or, public, named itself).
#[derive(Clone, Debug)]
pub(crate) struct Authenticated {
    pub(crate) client: Arc<Client>,
    pub(crate) method: AuthMethod,
}

/// Longest `client_id` or secret accepted; longer is not a registered client.
const MAX_CREDENTIAL_LEN: usize = 1024;

/// What the request claims, before any lookup.
struct Claimed {
    id: String,
    secret: Option<String>,
    method: AuthMethod,
}

/// A client as claimed and looked up, its secret not checked yet.
pub(crate) struct Candidate {
    claimed: Claimed,
    client: Option<Arc<Client>>,
}

/// Reads the claimed credentials and looks the client up. Malformed credentials and a
/// store that cannot answer fail here, before any secret is checked.
pub(crate) async fn look_up(
    clients: &dyn ClientStore,
    headers: &HeaderMap,
    params: &Params,
) -> Result<Candidate, OAuthError> {
    let claimed = claimed(headers, params)?;
    match clients.client(&claimed.id).await {
        // A store matching loosely (case-insensitive collation, trimming) would give
        // every spelling of an id its own failure budget: only the id as registered
        // names the client.
        Ok(client) => Ok(Candidate { client: client.filter(|c| c.id() == claimed.id), claimed }),
        Err(e) => {
            tracing::error!(error = %crate::error_chain::error_chain(&e), "client store unavailable");
            Err(OAuthError::unavailable("cannot authenticate clients right now"))
        }
    }
}

impl Candidate {
    /// What a failure of this request is counted under (see [`FailureBudget`]).
    fn failure_budget(&self) -> FailureBudget<'_> {
        let id = self.claimed.id.as_str();
        match &self.client {
            None => FailureBudget::Unknown(id),
            Some(client) if client.is_confidential() => FailureBudget::Registered(id),
            Some(_) if self.claimed.secret.is_none() => FailureBudget::None,
            Some(_) => FailureBudget::AddressOnly,
        }
    }

    /// Checks the secret. Synchronous: a failure budget reserved just before is held
    /// for no longer than the hash takes, so requests of a client with the right
    /// secret, however many at once, never spend its budget.
    pub(crate) fn verify(self) -> Result<Authenticated, OAuthError> {
        let Self { claimed, client } = self;
        let verified = client.filter(|client| match (&claimed.secret, client.is_confidential()) {
            (Some(secret), true) => client.secret_matches(secret),
            (None, false) => true,
            _ => false,
        });
        match verified {
            Some(client) => Ok(Authenticated { client, method: claimed.method }),
            // One answer for an unknown client, a wrong secret, a confidential client
            // without one and a public client with one: nothing to probe.
            None => Err(OAuthError::invalid_client("client authentication failed")),
        }
    }
}

impl super::AuthorizationServer {
    /// Authenticates the client under the budgets of
    /// [`ServerLimits`](super::ServerLimits): the attempt is counted against the
    /// failure budgets before the secret is checked (given back when it is right), so
    /// parallel guesses cannot outrun them; then the authenticated request is counted
    /// against the client's request budget at `endpoint` (its path). Malformed
    /// credentials and an unavailable store are refused before any of that (nothing
    /// was guessed).
    pub(crate) async fn authenticate_client(
        &self,
        endpoint: &str,
        headers: &HeaderMap,
        params: &Params,
        peer: Option<std::net::SocketAddr>,
    ) -> Result<Authenticated, OAuthError> {
        let candidate = look_up(&*self.inner.clients, headers, params).await?;
        let limiter = &self.inner.limiter;
        let address = limiter.address(headers, peer);
        // No await from here on: see `Candidate::verify`.
        let reservation = limiter.reserve_attempt(candidate.failure_budget(), address.as_deref())?;
        let authenticated = candidate.verify()?;
        if let Some(reservation) = reservation {
            reservation.succeeded();
        }
        limiter.admit_request(endpoint, &authenticated, address.as_deref())?;
        Ok(authenticated)
    }
}

fn claimed(headers: &HeaderMap, params: &Params) -> Result<Claimed, OAuthError> {
    let mut authorization = headers.get_all(header::AUTHORIZATION).iter();
    let basic = match (authorization.next(), authorization.next()) {
        (None, _) => None,
        (Some(_), Some(_)) => return Err(OAuthError::invalid_request("more than one Authorization header")),
        (Some(value), None) => Some(basic_credentials(value.as_bytes())?),
    };
    let form_id = params.get("client_id");
    let form_secret = params.get("client_secret");
    let claimed = match (basic, form_secret) {
        (Some(_), Some(_)) => return Err(OAuthError::invalid_request("more than one client authentication method")),
        (Some((id, secret)), None) => {
            // §2.3.1 allows client_id in the body as well; it must then agree.
            if form_id.is_some_and(|f| f != id) {
                return Err(OAuthError::invalid_request("client_id differs from the Authorization header"));
            }
            Claimed { id, secret: Some(secret), method: AuthMethod::Basic }
        }
        (None, Some(secret)) => {
            let id = form_id.ok_or_else(|| OAuthError::invalid_request("client_secret without client_id"))?;
            Claimed { id: id.to_owned(), secret: Some(secret.to_owned()), method: AuthMethod::Post }
        }
        (None, None) => {
            let id = form_id.ok_or_else(|| OAuthError::invalid_client("no client authentication"))?;
            Claimed { id: id.to_owned(), secret: None, method: AuthMethod::None }
        }
    };
    if claimed.id.len() > MAX_CREDENTIAL_LEN || claimed.secret.as_ref().is_some_and(|s| s.len() > MAX_CREDENTIAL_LEN) {
        return Err(OAuthError::invalid_client("client authentication failed"));
    }
    Ok(claimed)
}

/// `Basic base64(urlencode(id) ":" urlencode(secret))` (RFC 6749 §2.3.1, RFC 7617).
fn basic_credentials(value: &[u8]) -> Result<(String, String), OAuthError> {
    let bad = || OAuthError::invalid_client("malformed Basic credentials");
    let text = std::str::from_utf8(value).map_err(|_| bad())?;
    let (scheme, encoded) = text.split_once(' ').ok_or_else(bad)?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return Err(bad());
    }
    let decoded = STANDARD.decode(encoded.trim()).map_err(|_| bad())?;
    let decoded = String::from_utf8(decoded).map_err(|_| bad())?;
    let (id, secret) = decoded.split_once(':').ok_or_else(bad)?;
    let id = form_decode(id).ok_or_else(bad)?;
    let secret = form_decode(secret).ok_or_else(bad)?;
    if id.is_empty() {
        return Err(bad());
    }
    Ok((id, secret))
}

/// One `application/x-www-form-urlencoded` value: `+` is a space, `%XX` a byte.
fn form_decode(part: &str) -> Option<String> {
    let mut out = Vec::with_capacity(part.len());
    let mut bytes = part.bytes();
    while let Some(b) = bytes.next() {
        match b {
            b'+' => out.push(b' '),
            b'%' => {
                let hi = char::from(bytes.next()?).to_digit(16)?;
                let lo = char::from(bytes.next()?).to_digit(16)?;
                out.push(u8::try_from(hi * 16 + lo).ok()?);
            }
            other => out.push(other),
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::{basic_credentials, form_decode};

    #[test]
    fn basic_credentials_are_form_decoded() {
        use base64::Engine as _;
        let header =
            format!("Basic {}", base64::engine::general_purpose::STANDARD.encode("my%3Aclient:p%40ss+word%2B"));
        let (id, secret) = basic_credentials(header.as_bytes()).unwrap();
        assert_eq!(id, "my:client");
        assert_eq!(secret, "p@ss word+");
        assert_eq!(form_decode("%zz"), None);
        assert_eq!(form_decode("%4"), None);
        assert!(basic_credentials(b"Bearer abc").is_err());
    }
}
