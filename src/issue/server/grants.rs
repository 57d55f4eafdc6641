//! The grants of the token endpoint: `client_credentials` (RFC 6749 §4.4),
//! `authorization_code` with PKCE (§4.1.3, RFC 7636 §4.6) and `refresh_token` (§6,
//! rotated, reuse revoking the grant: RFC 9700 §4.14).

use std::time::Duration;

use serde_json::Map;

use super::AuthorizationServer;
use super::client::{Client, GrantType};
use super::error::OAuthError;
use super::generator::random_token;
use super::issuing::{Issued, store_unavailable};
use super::params::Params;
use super::pkce;
use super::store::{Grant, Taken, TokenKey};

impl AuthorizationServer {
    /// §4.4: a confidential client asks for tokens of its own; `sub` is its id. The
    /// grant is stored like any other, so revocation and introspection treat it alike.
    pub(super) async fn client_credentials(&self, client: &Client, params: &Params) -> Result<Issued, OAuthError> {
        if !client.is_confidential() {
            return Err(OAuthError::unauthorized_client("a public client cannot use client_credentials"));
        }
        let scope = match params.get("scope") {
            Some(requested) => requested_scope(requested, client.scopes())?,
            // §3.3: absent, the server uses a documented default: all the client's scopes.
            None => client.scopes().to_vec(),
        };
        let now = self.now();
        let lifetime = self.inner.lifetimes.access_client_credentials;
        let grant = Grant {
            id: random_token().map_err(|_| OAuthError::unavailable("cannot issue tokens right now"))?,
            client_id: client.id().to_owned(),
            subject: client.id().to_owned(),
            scope,
            auth_time: now,
            created_at: now,
            // The grant lives as long as its one access token.
            expires_at: now.saturating_add(lifetime.as_secs()),
            claims: Map::new(),
        };
        self.inner.store.put_grant(grant.clone(), lifetime).await.map_err(store_unavailable)?;
        self.issue(client, &grant, GrantType::ClientCredentials).await
    }

    /// §4.1.3: the code, once, by the client it was issued to, with the same
    /// `redirect_uri` and the PKCE verifier of its challenge.
    pub(super) async fn authorization_code(&self, client: &Client, params: &Params) -> Result<Issued, OAuthError> {
        let store = &self.inner.store;
        let code = params.require("code")?;
        let pending = match store.take_code(&TokenKey::of(code)).await.map_err(store_unavailable)? {
            Taken::First(pending) => pending,
            Taken::Again { grant_id } => {
                // §4.1.2: a code used twice revokes what it issued.
                store.revoke_grant(&grant_id).await.map_err(store_unavailable)?;
                tracing::warn!(client_id = client.id(), "authorization code reused: its grant is revoked");
                return Err(OAuthError::invalid_grant("the authorization code was already used"));
            }
            Taken::Missing => return Err(OAuthError::invalid_grant("unknown or expired authorization code")),
        };
        let now = self.now();
        if pending.expires_at <= now {
            return Err(OAuthError::invalid_grant("unknown or expired authorization code"));
        }
        if pending.grant.client_id != client.id() {
            return Err(OAuthError::invalid_grant("the authorization code was issued to another client"));
        }
        // Present exactly when the authorization request had one, and equal to it.
        if pending.redirect_uri.as_deref() != params.get("redirect_uri") {
            return Err(OAuthError::invalid_grant("redirect_uri differs from the authorization request's"));
        }
        let verifier =
            params.get("code_verifier").ok_or_else(|| OAuthError::invalid_grant("code_verifier is required (PKCE)"))?;
        if !pkce::verifier_matches(verifier, &pending.code_challenge) {
            return Err(OAuthError::invalid_grant("code_verifier does not match the code_challenge"));
        }
        let grant = pending.grant;
        let ttl = grant.expires_at.saturating_sub(now);
        if ttl == 0 {
            return Err(OAuthError::invalid_grant("the grant has expired"));
        }
        store.put_grant(grant.clone(), Duration::from_secs(ttl)).await.map_err(store_unavailable)?;
        self.issue(client, &grant, GrantType::AuthorizationCode).await
    }

    /// §6: a refresh token of this client's live grant, used once; the new access
    /// token may carry fewer scopes, the new refresh token keeps the grant's.
    ///
    /// The token is checked before it is used up, so a request refused for its
    /// `scope` does not cost the client its refresh token; a token already used is a
    /// replay, and its grant is revoked (no grace window).
    pub(super) async fn refresh(&self, client: &Client, params: &Params) -> Result<Issued, OAuthError> {
        let store = &self.inner.store;
        let key = TokenKey::of(params.require("refresh_token")?);
        let Some(record) = store.refresh_token(&key).await.map_err(store_unavailable)? else {
            // Used or unknown: taking it tells which.
            return Err(self.refresh_refused(&key, client).await);
        };
        let now = self.now();
        if record.client_id != client.id() {
            return Err(OAuthError::invalid_grant("the refresh token was issued to another client"));
        }
        if record.expires_at <= now {
            return Err(OAuthError::invalid_grant("the refresh token has expired"));
        }
        let Some(mut grant) = store.grant(&record.grant_id).await.map_err(store_unavailable)? else {
            return Err(OAuthError::invalid_grant("the grant of this refresh token was revoked or has expired"));
        };
        if grant.client_id != client.id() {
            return Err(OAuthError::invalid_grant("the refresh token was issued to another client"));
        }
        if let Some(requested) = params.get("scope") {
            grant.scope = requested_scope(requested, &grant.scope)?;
        }
        match store.take_refresh_token(&key).await.map_err(store_unavailable)? {
            Taken::First(taken) if taken.grant_id == grant.id => {}
            // Used meanwhile by a concurrent request: a replay as well.
            Taken::Again { grant_id } => return Err(self.refresh_reused(&grant_id, client).await),
            _ => return Err(OAuthError::invalid_grant("unknown or expired refresh token")),
        }
        self.issue(client, &grant, GrantType::RefreshToken).await
    }

    async fn refresh_refused(&self, key: &TokenKey, client: &Client) -> OAuthError {
        match self.inner.store.take_refresh_token(key).await {
            Ok(Taken::Again { grant_id }) => self.refresh_reused(&grant_id, client).await,
            Ok(_) => OAuthError::invalid_grant("unknown or expired refresh token"),
            Err(e) => store_unavailable(e),
        }
    }

    /// RFC 9700 §4.14.2: a used refresh token came back; the grant and every token of
    /// it end.
    async fn refresh_reused(&self, grant_id: &str, client: &Client) -> OAuthError {
        if let Err(e) = self.inner.store.revoke_grant(grant_id).await {
            return store_unavailable(e);
        }
        tracing::warn!(client_id = client.id(), "refresh token reused: its grant is revoked");
        OAuthError::invalid_grant("the refresh token was already used; its grant is revoked")
    }
}

/// The scopes of a `scope` parameter (§3.3: space-delimited, case-sensitive), each of
/// them within `allowed`; duplicates dropped.
fn requested_scope(requested: &str, allowed: &[String]) -> Result<Vec<String>, OAuthError> {
    let mut scopes: Vec<String> = Vec::new();
    for token in requested.split(' ').filter(|s| !s.is_empty()) {
        // scope-token = 1*( %x21 / %x23-5B / %x5D-7E )
        let well_formed = token.bytes().all(|b| b == 0x21 || (0x23..=0x5b).contains(&b) || (0x5d..=0x7e).contains(&b));
        if !well_formed || !allowed.iter().any(|a| a == token) {
            return Err(OAuthError::invalid_scope("a requested scope is unknown or not allowed for this client"));
        }
        if !scopes.iter().any(|s| s == token) {
            scopes.push(token.to_owned());
        }
    }
    Ok(scopes)
}

#[cfg(test)]
mod tests {
    use super::requested_scope;

    #[test]
    fn scopes_within_the_allowed() {
        let allowed = vec!["read".to_owned(), "write".to_owned()];
        assert_eq!(requested_scope("read", &allowed).unwrap(), ["read"]);
        assert_eq!(requested_scope("write  read read", &allowed).unwrap(), ["write", "read"]);
        assert!(requested_scope("read admin", &allowed).is_err());
        assert!(requested_scope("Read", &allowed).is_err(), "case-sensitive");
        assert!(requested_scope("re\"ad", &["re\"ad".to_owned()]).is_err(), "not a scope-token");
    }
}
