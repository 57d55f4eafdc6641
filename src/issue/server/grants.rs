//! The grants of the token endpoint: `client_credentials` (RFC 6749 §4.4),
//! `authorization_code` with PKCE (§4.1.3, RFC 7636 §4.6) and `refresh_token` (§6,
//! rotated, reuse revoking the grant: RFC 9700 §4.14).

use std::time::Duration;

use serde_json::Map;

use super::AuthorizationServer;
use super::client::{Client, GrantType};
use super::error::OAuthError;
use super::generator::random_token;
use super::issuing::{Issued, RefreshChain, store_unavailable};
use super::params::Params;
use super::pkce;
use super::store::{Grant, Taken, TokenKey, refresh_family};

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
            issuer: self.inner.issuer.clone(),
            client_id: client.id().to_owned(),
            subject: client.id().to_owned(),
            scope,
            auth_time: now,
            created_at: now,
            // The grant lives as long as its one access token.
            expires_at: now.saturating_add(lifetime.as_secs()),
            claims: Map::new(),
        };
        if !self.inner.store.put_grant(grant.clone(), lifetime).await.map_err(store_unavailable)? {
            // A fresh random id already taken: nothing is issued under it.
            tracing::error!(client_id = client.id(), "a new grant id was already in the store");
            return Err(OAuthError::unavailable("cannot issue tokens right now"));
        }
        self.issue(client, &grant, GrantType::ClientCredentials, None).await
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
        // Another server's code (a store shared by mistake), or one seeded with an id
        // its refresh tokens could not name.
        if pending.grant.issuer != self.inner.issuer || pending.grant.id != Grant::id_for_code(code) {
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
        if !store.put_grant(grant.clone(), Duration::from_secs(ttl)).await.map_err(store_unavailable)? {
            // A replay of this code revoked the grant before it was stored.
            tracing::warn!(client_id = client.id(), "authorization code reused during its exchange: nothing issued");
            return Err(OAuthError::invalid_grant("the authorization code was already used"));
        }
        let family = refresh_family(code);
        self.issue(client, &grant, GrantType::AuthorizationCode, Some(RefreshChain { family: &family, replaces: None }))
            .await
    }

    /// §6: a refresh token of this client's live grant, used once; the new access
    /// token may carry fewer scopes, the new refresh token keeps the grant's.
    ///
    /// The token is checked before it is used up, so a request refused for its
    /// `scope` does not cost the client its refresh token. The new tokens are stored
    /// before the old one is used up, so a store that cannot take them (full,
    /// unreachable: `503`) leaves the old one usable, and the client's retry is no
    /// replay; if the old one cannot be used up after all, the new ones are deleted
    /// unanswered. Using it up deletes the marker of the token it replaced: a grant
    /// holds its live refresh token and one used marker (reuse detection does not need
    /// more: every refresh token names its grant).
    ///
    /// A used token presented again by the grant's client is a replay and revokes the
    /// grant (no grace window; RFC 9700 §4.14.2): the token just replaced by its
    /// marker, an older one by the secret it starts with (whose hash is the grant id:
    /// [`Grant::id_for_code`]), so an attacker who
    /// rotates on twice erases nothing. One presented by another client is refused
    /// without revoking (that client cannot end this one's grant).
    pub(super) async fn refresh(&self, client: &Client, params: &Params) -> Result<Issued, OAuthError> {
        let store = &self.inner.store;
        let token = params.require("refresh_token")?;
        let key = TokenKey::of(token);
        let Some(record) = store.refresh_token(&key).await.map_err(store_unavailable)? else {
            // Used or unknown: taking it tells which.
            return Err(self.refresh_refused(token, &key, client).await);
        };
        let now = self.now();
        if record.client_id != client.id() {
            return Err(OAuthError::invalid_grant("the refresh token was issued to another client"));
        }
        if record.expires_at <= now {
            return Err(OAuthError::invalid_grant("the refresh token has expired"));
        }
        let Some(mut grant) = self.own_grant(&record.grant_id).await.map_err(store_unavailable)? else {
            return Err(OAuthError::invalid_grant("the grant of this refresh token was revoked or has expired"));
        };
        if grant.client_id != client.id() {
            return Err(OAuthError::invalid_grant("the refresh token was issued to another client"));
        }
        if let Some(requested) = params.get("scope") {
            grant.scope = requested_scope(requested, &grant.scope)?;
        }
        // The chain's secret, which names the grant (a token of another chain never
        // shares its grant's record: refused).
        let family = family_of(token).filter(|family| TokenKey::of(family).as_str() == grant.id);
        let Some(family) = family else {
            return Err(OAuthError::invalid_grant("unknown or expired refresh token"));
        };
        let chain = RefreshChain { family, replaces: Some(&key) };
        let minted = self.mint(client, &grant, GrantType::RefreshToken, Some(chain)).await?;
        let refused = match store.take_refresh_token(&key).await {
            Ok(Taken::First(taken)) if taken.grant_id == grant.id => {
                self.forget_previous(taken.previous.as_ref()).await;
                return self.answer(minted, &grant.id).await;
            }
            // Used meanwhile by a concurrent request: a replay as well.
            Ok(Taken::Again { grant_id }) => self.refresh_reused(&grant_id, client).await,
            Ok(_) => OAuthError::invalid_grant("unknown or expired refresh token"),
            Err(e) => store_unavailable(e),
        };
        self.discard(minted).await;
        Err(refused)
    }

    /// Deletes the used marker of the token two rotations back. A failure costs only
    /// room (the marker expires with its token), never the answer: the client's token
    /// is used up already, so refusing now would make its retry a replay.
    async fn forget_previous(&self, previous: Option<&TokenKey>) {
        if let Some(previous) = previous
            && let Err(e) = self.inner.store.delete_refresh_token(previous).await
        {
            tracing::warn!(error = %crate::error_chain::error_chain(&e), "a used refresh token's marker stays");
        }
    }

    async fn refresh_refused(&self, token: &str, key: &TokenKey, client: &Client) -> OAuthError {
        match self.inner.store.take_refresh_token(key).await {
            Ok(Taken::Again { grant_id }) => self.refresh_reused(&grant_id, client).await,
            // No record: an earlier token of a grant that rotated on names the grant by
            // its chain's secret, whose hash is the grant id.
            Ok(_) => match family_of(token) {
                Some(family) => self.refresh_reused(TokenKey::of(family).as_str(), client).await,
                None => OAuthError::invalid_grant("unknown or expired refresh token"),
            },
            Err(e) => store_unavailable(e),
        }
    }

    /// RFC 9700 §4.14.2: a used refresh token came back from its grant's client; the
    /// grant and every token of it end. From another client it is only refused: that
    /// client could not use it anyway, and must not be able to end the grant.
    async fn refresh_reused(&self, grant_id: &str, client: &Client) -> OAuthError {
        let store = &self.inner.store;
        match self.own_grant(grant_id).await {
            Err(e) => return store_unavailable(e),
            // Revoked or expired already (or not this server's): nothing to end.
            Ok(None) => return OAuthError::invalid_grant("unknown, expired or already used refresh token"),
            Ok(Some(grant)) if grant.client_id != client.id() => {
                tracing::warn!(
                    client_id = client.id(),
                    grant_client_id = grant.client_id,
                    "a used refresh token of another client's grant was presented: refused, the grant is kept"
                );
                return OAuthError::invalid_grant("the refresh token was issued to another client");
            }
            Ok(Some(_)) => {}
        }
        if let Err(e) = store.revoke_grant(grant_id).await {
            return store_unavailable(e);
        }
        // Used, or expired while its grant lives on (its record is gone either way).
        tracing::warn!(client_id = client.id(), "a used or expired refresh token came back: its grant is revoked");
        OAuthError::invalid_grant("the refresh token was already used; its grant is revoked")
    }
}

/// The secret a refresh token's chain starts with (see [`Grant::id_for_code`]).
fn family_of(token: &str) -> Option<&str> {
    token.split_once('.').map(|(family, _)| family).filter(|family| !family.is_empty())
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
