//! One-line presets for the big identity providers.
//!
//! Each preset sets the issuer string, where the keys are, and where roles and the
//! audience live in that provider's access tokens. Add `.audience(..)` (required) and
//! override anything with the usual [`Issuer`] methods, e.g. `.keys(..)` in tests.
//! Every preset finds its keys over HTTPS, so they exist only with the `remote`
//! feature (without it a preset would be an issuer with no keys).

use super::issuer::Issuer;
use crate::ClaimPath;

#[cfg_attr(docsrs, doc(cfg(feature = "remote")))]
impl Issuer {
    /// Keycloak realm `https://host/realms/<realm>`: keys by discovery; roles
    /// ([`policy::role`](crate::policy::role)) are **realm roles** from
    /// `realm_access.roles`; the client's own roles from
    /// `resource_access.<client_id>.roles` are the separate source `"client"`
    /// ([`policy::role_in("client", ..)`](crate::policy::role_in)). They are different
    /// grants in Keycloak (a client admin can assign client roles), so one never
    /// satisfies the other.
    ///
    /// **Audience**: Keycloak access tokens carry `aud: "account"` (or none) unless the
    /// client has an *Audience* mapper (Client scopes → `<client>-dedicated` → Add
    /// mapper → By configuration → Audience, "Included Client Audience" = your API's
    /// client id, "Add to access token" on). Without it every token is refused with
    /// `401` (turn on [`detailed_errors`](crate::BearerLayer::detailed_errors) to see
    /// "the access token is not meant for this resource").
    ///
    /// ```
    /// use tower_bearer::policy::{role, role_in};
    /// use tower_bearer::{Issuer, JwtVerifier};
    /// let verifier = JwtVerifier::builder()
    ///     .issuer(Issuer::keycloak("https://sso.example.com/realms/main", "orders-api"))
    ///     .audience("orders-api")
    ///     .build();
    /// let realm_admin = role("admin");
    /// let client_admin = role_in("client", "admin");
    /// # let _ = (verifier, realm_admin, client_admin);
    /// ```
    pub fn keycloak(realm_url: impl Into<String>, client_id: &str) -> Self {
        Self::new(realm_url)
            .discover()
            .preset_roles("realm_access.roles")
            .role_source("client", ClaimPath::from_segments(["resource_access", client_id, "roles"]))
    }

    /// Microsoft Entra ID, one tenant, v2.0 access tokens
    /// (`iss` = `https://login.microsoftonline.com/<tenant>/v2.0`); roles from `roles`
    /// (app roles), scopes from `scp`; security groups (`groups`, object ids) are the
    /// separate source `"groups"`, never mistaken for app roles. The audience is the
    /// API's application (client) id GUID, or its App ID URI for v1 tokens.
    pub fn entra_id(tenant_id: &str) -> Self {
        let keys = format!("https://login.microsoftonline.com/{tenant_id}/discovery/v2.0/keys");
        entra(Self::new(format!("https://login.microsoftonline.com/{tenant_id}/v2.0")).jwks_url(keys))
    }

    /// Microsoft Entra ID, one tenant, v1.0 access tokens (`iss` = `https://sts.windows.net/<tenant>/`).
    pub fn entra_id_v1(tenant_id: &str) -> Self {
        let keys = format!("https://login.microsoftonline.com/{tenant_id}/discovery/keys");
        entra(Self::new(format!("https://sts.windows.net/{tenant_id}/")).jwks_url(keys))
    }

    /// Microsoft Entra ID, any tenant (multi-tenant apps), v2.0 tokens: the issuer
    /// template `https://login.microsoftonline.com/{tenantid}/v2.0` is filled from each
    /// token's `tid`; keys from the `common` endpoint. Restrict tenants with a
    /// requirement on `tid` when you do not serve all of them.
    pub fn entra_id_multi_tenant() -> Self {
        let keys = "https://login.microsoftonline.com/common/discovery/v2.0/keys".to_owned();
        entra(Self::new("https://login.microsoftonline.com/{tenantid}/v2.0").jwks_url(keys))
    }

    /// Auth0 tenant `domain` (e.g. `example.eu.auth0.com` or a custom domain):
    /// `iss` = `https://<domain>/`; keys by discovery. RBAC permissions ("Add
    /// Permissions in the Access Token") are the source `"permissions"`
    /// ([`policy::role_in("permissions", ..)`](crate::policy::role_in)), not roles: Auth0
    /// puts no roles in access tokens unless an Action adds a namespaced claim, read
    /// with `.roles_claim(ClaimPath::key("https://example.com/roles"))` (its dots are
    /// not path separators; see [`ClaimPath`]).
    pub fn auth0(domain: &str) -> Self {
        Self::new(format!("https://{domain}/")).discover().role_source("permissions", "permissions")
    }

    /// Okta authorization server (e.g. `https://example.okta.com/oauth2/default`): keys
    /// by discovery; scopes from `scp` (an array); roles from a `groups` claim.
    pub fn okta(issuer: impl Into<String>) -> Self {
        Self::new(issuer).discover().preset_roles("groups")
    }

    /// Amazon Cognito user pool: `iss` = `https://cognito-idp.<region>.amazonaws.com/<pool>`;
    /// keys by discovery; access tokens carry no `aud`, so the app client id is checked
    /// in `client_id`; `token_use` must be `access` (ID tokens are refused); roles from
    /// `cognito:groups`. The app client id is the audience; no `.audience(..)` needed.
    pub fn cognito(region: &str, user_pool_id: &str, app_client_id: &str) -> Self {
        Self::new(format!("https://cognito-idp.{region}.amazonaws.com/{user_pool_id}"))
            .discover()
            .audience_claim("client_id")
            .audience(app_client_id)
            .require_claim_value("token_use", "access")
            .preset_roles("cognito:groups")
    }
}

/// Entra app roles in `roles`; security groups apart, in the source `"groups"`.
fn entra(issuer: Issuer) -> Issuer {
    issuer.preset_roles("roles").role_source("groups", "groups")
}
