//! Minting the tokens of one grant (RFC 6749 §5.1): the access token (an RFC 9068 JWT
//! or an opaque value), a refresh token when the client may refresh, their records,
//! and the JSON answer. Minting stores the records first; the answer is given only
//! once the grant is known to be live still, so a revocation that lands meanwhile
//! ends the new tokens unanswered.

use std::time::Duration;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::client::{Client, GrantType};
use super::error::{OAuthError, no_store_json};
use super::generator::{TokenContext, TokenGenerator, is_b64token, is_vschar_token, long_enough, random_token};
use super::store::{AccessRecord, Grant, RefreshRecord, StoreError, TokenKey};
use super::{AccessTokenFormat, AuthorizationServer};

/// What a successful token request is answered with. `Debug` never shows the tokens.
pub(crate) struct Issued {
    access_token: String,
    expires_in: u64,
    scope: Vec<String>,
    refresh_token: Option<String>,
}

impl std::fmt::Debug for Issued {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Issued")
            .field("expires_in", &self.expires_in)
            .field("scope", &self.scope)
            .field("refresh_token", &self.refresh_token.is_some())
            .finish_non_exhaustive()
    }
}

/// Where a code grant's refresh tokens come from: the secret they all start with
/// ([`Grant::id_for_code`]) and, for a rotation, the token the new one replaces.
#[derive(Clone, Copy)]
pub(crate) struct RefreshChain<'a> {
    pub(crate) family: &'a str,
    pub(crate) replaces: Option<&'a TokenKey>,
}

/// Tokens minted and stored, not answered yet: [`AuthorizationServer::answer`] sends
/// them, [`AuthorizationServer::discard`] deletes their records.
pub(crate) struct Minted {
    issued: Issued,
    access_key: TokenKey,
    refresh_key: Option<TokenKey>,
}

impl std::fmt::Debug for Minted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Minted").field("issued", &self.issued).finish_non_exhaustive()
    }
}

impl Issued {
    /// The §5.1 answer, `Cache-Control: no-store`, `Pragma: no-cache`. `scope` is always
    /// sent: it may differ from what was requested (a default, or a refresh narrowing).
    pub(crate) fn into_response(self) -> Response {
        let mut body = json!({
            "access_token": self.access_token,
            "token_type": "Bearer",
            "expires_in": self.expires_in,
        });
        if let Some(map) = body.as_object_mut() {
            if !self.scope.is_empty() {
                map.insert("scope".into(), Value::String(self.scope.join(" ")));
            }
            if let Some(refresh) = self.refresh_token {
                map.insert("refresh_token".into(), Value::String(refresh));
            }
        }
        (StatusCode::OK, no_store_json(&body)).into_response()
    }
}

/// Claims of a grant's extra claims that the server sets itself and that the
/// application cannot override.
const REGISTERED: [&str; 11] =
    ["iss", "aud", "exp", "iat", "nbf", "jti", "sub", "client_id", "scope", "auth_time", "cnf"];

impl AuthorizationServer {
    /// [`mint`](Self::mint)s the tokens of `grant` and [`answer`](Self::answer)s them.
    pub(crate) async fn issue(
        &self,
        client: &Client,
        grant: &Grant,
        grant_type: GrantType,
        chain: Option<RefreshChain<'_>>,
    ) -> Result<Issued, OAuthError> {
        let minted = self.mint(client, grant, grant_type, chain).await?;
        self.answer(minted, &grant.id).await
    }

    /// Mints the tokens of `grant` for `client` after a `grant_type` request, and
    /// stores their records. No token outlives `grant.expires_at`. A refresh token is
    /// issued, on `chain`, when the client may use `refresh_token` and the grant has a
    /// chain (a code grant: never client credentials, RFC 6749 §4.4.3). On an error,
    /// what was stored is deleted.
    pub(crate) async fn mint(
        &self,
        client: &Client,
        grant: &Grant,
        grant_type: GrantType,
        chain: Option<RefreshChain<'_>>,
    ) -> Result<Minted, OAuthError> {
        let i = &self.inner;
        let lifetime = match grant_type {
            GrantType::ClientCredentials => i.lifetimes.access_client_credentials,
            _ => i.lifetimes.access_code_flow,
        };
        if grant.expires_at <= self.now() {
            return Err(OAuthError::invalid_grant("the grant has expired"));
        }
        let context =
            TokenContext { client_id: &grant.client_id, grant_type, subject: &grant.subject, scopes: &grant.scope };
        let jti = random_token().map_err(|e| unavailable("no randomness for a jti", &e))?;
        let (access_token, issued_at, expires_at) = match i.format {
            AccessTokenFormat::Jwt => self.sign(grant, &jti, lifetime)?,
            AccessTokenFormat::Opaque => {
                let token = generate(&*i.access_generator, &context, is_b64token, "access")?;
                let now = self.now();
                (token, now, now.saturating_add(lifetime.as_secs()).min(grant.expires_at))
            }
        };
        let ttl = expires_at.saturating_sub(issued_at);
        if ttl == 0 {
            return Err(OAuthError::invalid_grant("the grant has expired"));
        }
        let record = AccessRecord {
            grant_id: grant.id.clone(),
            client_id: grant.client_id.clone(),
            subject: grant.subject.clone(),
            scope: grant.scope.clone(),
            audience: i.audience.clone(),
            issued_at,
            expires_at,
            jti,
        };
        let access_key = TokenKey::of(&access_token);
        i.store.put_access_token(&access_key, record, Duration::from_secs(ttl)).await.map_err(store_unavailable)?;

        let chain =
            chain.filter(|_| grant_type != GrantType::ClientCredentials && client.allows(GrantType::RefreshToken));
        let refresh_token = if let Some(chain) = chain {
            match self.refresh_token(grant, &context, chain).await {
                Ok(token) => Some(token),
                Err(e) => {
                    self.forget_access_token(&access_key).await;
                    return Err(e);
                }
            }
        } else {
            None
        };
        let refresh_key = refresh_token.as_deref().map(TokenKey::of);
        let issued = Issued { access_token, expires_in: ttl, scope: grant.scope.clone(), refresh_token };
        Ok(Minted { issued, access_key, refresh_key })
    }

    /// The answer for `minted`, if their grant `grant_id` is still there: a grant
    /// revoked while they were minted (a code replay, a revocation, a reuse) ends them
    /// unanswered.
    pub(crate) async fn answer(&self, minted: Minted, grant_id: &str) -> Result<Issued, OAuthError> {
        match self.own_grant(grant_id).await {
            Ok(Some(_)) => Ok(minted.issued),
            Ok(None) => {
                self.discard(minted).await;
                Err(OAuthError::invalid_grant("the grant was revoked or has expired"))
            }
            // The code or refresh token is used up already: refusing now would make the
            // client's retry a replay that ends the grant. Answering is no worse than a
            // revocation landing just after the read: the new tokens die with the grant.
            Err(e) => {
                tracing::warn!(
                    error = %crate::error_chain::error_chain(&e),
                    "the grant could not be read again after minting: answered"
                );
                Ok(minted.issued)
            }
        }
    }

    /// Deletes the records of tokens that will not be answered. Best effort: a token
    /// never sent is usable by nobody; deleting it only frees its room.
    pub(crate) async fn discard(&self, minted: Minted) {
        self.forget_access_token(&minted.access_key).await;
        if let Some(key) = &minted.refresh_key
            && let Err(e) = self.inner.store.delete_refresh_token(key).await
        {
            tracing::warn!(error = %crate::error_chain::error_chain(&e), "an unanswered refresh token's record stays");
        }
    }

    async fn forget_access_token(&self, key: &TokenKey) {
        if let Err(e) = self.inner.store.revoke_access_token(key).await {
            tracing::warn!(error = %crate::error_chain::error_chain(&e), "an unanswered access token's record stays");
        }
    }

    /// An RFC 9068 JWT for `grant`: its token, `iat` and `exp`.
    fn sign(&self, grant: &Grant, jti: &str, lifetime: Duration) -> Result<(String, u64, u64), OAuthError> {
        let i = &self.inner;
        // The ring's key of the moment (rotation swaps it).
        let signer = self.signer();
        let mut builder = signer.token();
        for (name, value) in &grant.claims {
            if !REGISTERED.contains(&name.as_str()) {
                builder = builder.claim(name, value.clone());
            }
        }
        builder = builder
            .subject(grant.subject.clone())
            .audience(i.audience.clone())
            .claim("client_id", Value::String(grant.client_id.clone()))
            .claim("auth_time", json!(grant.auth_time))
            .jti(jti.to_owned())
            .lifetime(lifetime)
            .not_after(grant.expires_at);
        for scope in &grant.scope {
            builder = builder.scope(scope.clone());
        }
        let signed = builder.sign().map_err(|e| unavailable("signing an access token failed", &e))?;
        Ok((signed.access_token().to_owned(), signed.starts(), signed.expires()))
    }

    /// A new refresh token for `grant` on `chain`, stored; it lives the refresh
    /// lifetime, never past the grant.
    async fn refresh_token(
        &self,
        grant: &Grant,
        context: &TokenContext<'_>,
        chain: RefreshChain<'_>,
    ) -> Result<String, OAuthError> {
        let i = &self.inner;
        // The chain's secret first: a token whose record is gone still names its
        // grant, so its reuse revokes however many rotations later (RFC 9700 §4.14.2).
        let generated = generate(&*i.refresh_generator, context, is_vschar_token, "refresh")?;
        let token = format!("{}.{generated}", chain.family);
        let now = self.now();
        let expires_at = now.saturating_add(i.lifetimes.refresh_token.as_secs()).min(grant.expires_at);
        let ttl = expires_at.saturating_sub(now);
        if ttl == 0 {
            return Err(OAuthError::invalid_grant("the grant has expired"));
        }
        let record = RefreshRecord {
            grant_id: grant.id.clone(),
            client_id: grant.client_id.clone(),
            expires_at,
            previous: chain.replaces.cloned(),
        };
        i.store
            .put_refresh_token(&TokenKey::of(&token), record, Duration::from_secs(ttl))
            .await
            .map_err(store_unavailable)?;
        Ok(token)
    }
}

/// Runs a generator and checks what it made (`valid`, and [`long_enough`]); `kind`
/// names the token in logs.
fn generate(
    generator: &dyn TokenGenerator,
    context: &TokenContext<'_>,
    valid: fn(&str) -> bool,
    kind: &str,
) -> Result<String, OAuthError> {
    match generator.generate(context) {
        Ok(token) if valid(&token) && long_enough(&token) => Ok(token),
        Ok(_) => {
            // The value itself is a secret: only that it was refused is logged.
            tracing::error!(
                kind,
                "the {kind} token generator made a token too short or of the wrong syntax; nothing issued"
            );
            Err(OAuthError::unavailable("cannot issue tokens right now"))
        }
        Err(e) => {
            tracing::error!(kind, error = %crate::error_chain::error_chain(&*e), "the {kind} token generator failed");
            Err(OAuthError::unavailable("cannot issue tokens right now"))
        }
    }
}

/// `503 temporarily_unavailable` for a failure on our side, logged.
fn unavailable(what: &str, e: &(dyn std::error::Error + 'static)) -> OAuthError {
    tracing::error!(error = %crate::error_chain::error_chain(e), "{what}");
    OAuthError::unavailable("cannot issue tokens right now")
}

/// `503 temporarily_unavailable` for a store that could not answer, logged (never a
/// 500: the request was fine).
pub(crate) fn store_unavailable(e: StoreError) -> OAuthError {
    tracing::error!(error = %crate::error_chain::error_chain(&e), "grant store unavailable");
    OAuthError::unavailable("the authorization server cannot answer right now")
}
