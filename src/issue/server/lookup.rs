//! Finding a token this server issued from the token itself, for revocation,
//! introspection and the server's own verifier: by its [`TokenKey`], access or
//! refresh token, and whether it is active now.

use super::AuthorizationServer;
use super::store::{AccessRecord, Grant, RefreshRecord, StoreError, TokenKey};

/// A token's record: what the server remembers of it.
#[derive(Clone, Debug)]
pub(crate) enum TokenRecord {
    /// An access token.
    Access(AccessRecord),
    /// A refresh token, not used yet.
    Refresh(RefreshRecord),
}

impl TokenRecord {
    /// The client it was issued to.
    pub(crate) fn client_id(&self) -> &str {
        match self {
            Self::Access(r) => &r.client_id,
            Self::Refresh(r) => &r.client_id,
        }
    }

    fn grant_id(&self) -> &str {
        match self {
            Self::Access(r) => &r.grant_id,
            Self::Refresh(r) => &r.grant_id,
        }
    }

    fn expires_at(&self) -> u64 {
        match self {
            Self::Access(r) => r.expires_at,
            Self::Refresh(r) => r.expires_at,
        }
    }
}

/// Which kind of token to look for first. `token_type_hint` (RFC 7009 §2.1, RFC
/// 7662 §2.1) only changes the order: a wrong or unknown hint still finds the token.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Hint {
    /// Access tokens first (no hint, `access_token`, or an unknown hint).
    AccessFirst,
    /// Refresh tokens first (`refresh_token`).
    RefreshFirst,
}

impl Hint {
    /// The hint `token_type_hint` gives.
    pub(crate) fn parse(hint: Option<&str>) -> Self {
        match hint {
            Some("refresh_token") => Self::RefreshFirst,
            _ => Self::AccessFirst,
        }
    }
}

impl AuthorizationServer {
    /// The record of `key`, an access or a refresh token, searched in `hint`'s order;
    /// `None` when it is neither (unknown, expired, revoked, or a used refresh token).
    pub(crate) async fn token_record(&self, key: &TokenKey, hint: Hint) -> Result<Option<TokenRecord>, StoreError> {
        let store = &self.inner.store;
        let refresh_first = hint == Hint::RefreshFirst;
        if refresh_first && let Some(r) = store.refresh_token(key).await? {
            return Ok(Some(TokenRecord::Refresh(r)));
        }
        if let Some(r) = store.access_token(key).await? {
            return Ok(Some(TokenRecord::Access(r)));
        }
        if !refresh_first && let Some(r) = store.refresh_token(key).await? {
            return Ok(Some(TokenRecord::Refresh(r)));
        }
        Ok(None)
    }

    /// `record` with its grant, if it is active now: not expired (the server's clock),
    /// for this server's audience (an access token), its grant still there (not
    /// revoked, not expired) and the same client's.
    pub(crate) async fn active(&self, record: TokenRecord) -> Result<Option<(TokenRecord, Grant)>, StoreError> {
        let now = self.now();
        if record.expires_at() <= now {
            return Ok(None);
        }
        // A store shared with another server under one prefix by mistake: its access
        // tokens name another audience, and are not this server's to accept.
        if let TokenRecord::Access(r) = &record
            && r.audience != self.inner.audience
        {
            return Ok(None);
        }
        let Some(grant) = self.own_grant(record.grant_id()).await? else {
            return Ok(None);
        };
        // A store that outlives its TTLs, or a record pointing at another client's
        // grant, can only deny.
        if grant.expires_at <= now || grant.client_id != record.client_id() {
            return Ok(None);
        }
        Ok(Some((record, grant)))
    }

    /// The grant `id`, if it is this server's ([`Grant::issuer`]): a grant of another
    /// server sharing the store is as good as none.
    pub(crate) async fn own_grant(&self, id: &str) -> Result<Option<Grant>, StoreError> {
        Ok(self.inner.store.grant(id).await?.filter(|grant| grant.issuer == self.inner.issuer))
    }

    /// The access token under `key` with its grant, if active now.
    pub(crate) async fn active_access_token(
        &self,
        key: &TokenKey,
    ) -> Result<Option<(AccessRecord, Grant)>, StoreError> {
        let Some(record) = self.inner.store.access_token(key).await? else {
            return Ok(None);
        };
        Ok(match self.active(TokenRecord::Access(record)).await? {
            Some((TokenRecord::Access(record), grant)) => Some((record, grant)),
            _ => None,
        })
    }
}
