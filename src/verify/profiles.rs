//! One-line presets for the big identity providers.
//!
//! Each preset sets the issuer string, where the keys are, and where roles and the
//! audience live in that provider's access tokens. Add `.audience(..)` (required) and
//! override anything with the usual [`Issuer`] methods, e.g. `.keys(..)` in tests.

use super::issuer::Issuer;

impl Issuer {
    /// Keycloak realm `https://host/realms/<realm>`: keys by discovery; roles from
    /// `realm_access.roles` and `resource_access.<client_id>.roles`.
    ///
    /// ```
    /// # use tower_bearer::{Issuer, JwtVerifier};
    /// let verifier = JwtVerifier::builder()
    ///     .issuer(Issuer::keycloak("https://sso.example.com/realms/main", "orders-api"))
    ///     .audience("orders-api")
    ///     .build();
    /// # let _ = verifier;
    /// ```
    pub fn keycloak(realm_url: impl Into<String>, client_id: &str) -> Self {
        with_discovery(Self::new(realm_url))
            .roles_claim("realm_access.roles")
            .roles_claim(format!("resource_access.{client_id}.roles"))
    }

    /// Microsoft Entra ID, one tenant, v2.0 access tokens
    /// (`iss` = `https://login.microsoftonline.com/<tenant>/v2.0`); roles from `roles`
    /// (app roles), scopes from `scp`.
    pub fn entra_id(tenant_id: &str) -> Self {
        let keys = format!("https://login.microsoftonline.com/{tenant_id}/discovery/v2.0/keys");
        with_jwks(Self::new(format!("https://login.microsoftonline.com/{tenant_id}/v2.0")), keys).roles_claim("roles")
    }

    /// Microsoft Entra ID, one tenant, v1.0 access tokens (`iss` = `https://sts.windows.net/<tenant>/`).
    pub fn entra_id_v1(tenant_id: &str) -> Self {
        let keys = format!("https://login.microsoftonline.com/{tenant_id}/discovery/keys");
        with_jwks(Self::new(format!("https://sts.windows.net/{tenant_id}/")), keys).roles_claim("roles")
    }

    /// Microsoft Entra ID, any tenant (multi-tenant apps), v2.0 tokens: the issuer
    /// template `https://login.microsoftonline.com/{tenantid}/v2.0` is filled from each
    /// token's `tid`; keys from the `common` endpoint. Restrict tenants with a
    /// requirement on `tid` when you do not serve all of them.
    pub fn entra_id_multi_tenant() -> Self {
        let keys = "https://login.microsoftonline.com/common/discovery/v2.0/keys".to_owned();
        with_jwks(Self::new("https://login.microsoftonline.com/{tenantid}/v2.0"), keys).roles_claim("roles")
    }

    /// Auth0 tenant `domain` (e.g. `example.eu.auth0.com` or a custom domain):
    /// `iss` = `https://<domain>/`; keys by discovery; roles from `permissions` (RBAC
    /// with "Add Permissions in the Access Token"). Namespaced custom claims such as
    /// `https://example.com/roles` can be added with
    /// `.roles_claim(ClaimPath::key("https://example.com/roles"))` (their dots are not
    /// path separators; see [`ClaimPath`](crate::ClaimPath)).
    pub fn auth0(domain: &str) -> Self {
        with_discovery(Self::new(format!("https://{domain}/"))).roles_claim("permissions")
    }

    /// Okta authorization server (e.g. `https://example.okta.com/oauth2/default`): keys
    /// by discovery; scopes from `scp` (an array); roles from a `groups` claim.
    pub fn okta(issuer: impl Into<String>) -> Self {
        with_discovery(Self::new(issuer)).roles_claim("groups")
    }

    /// Amazon Cognito user pool: `iss` = `https://cognito-idp.<region>.amazonaws.com/<pool>`;
    /// keys by discovery; access tokens carry no `aud`, so the app client id is checked
    /// in `client_id`; `token_use` must be `access` (ID tokens are refused); roles from
    /// `cognito:groups`. The app client id is the audience; no `.audience(..)` needed.
    pub fn cognito(region: &str, user_pool_id: &str, app_client_id: &str) -> Self {
        with_discovery(Self::new(format!("https://cognito-idp.{region}.amazonaws.com/{user_pool_id}")))
            .audience_claim("client_id")
            .audience(app_client_id)
            .require_claim_value("token_use", "access")
            .roles_claim("cognito:groups")
    }
}

fn with_discovery(issuer: Issuer) -> Issuer {
    #[cfg(feature = "remote")]
    {
        issuer.discover()
    }
    #[cfg(not(feature = "remote"))]
    {
        issuer
    }
}

#[cfg_attr(not(feature = "remote"), allow(unused_variables))]
fn with_jwks(issuer: Issuer, url: String) -> Issuer {
    #[cfg(feature = "remote")]
    {
        issuer.jwks_url(url)
    }
    #[cfg(not(feature = "remote"))]
    {
        issuer
    }
}
