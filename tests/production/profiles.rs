//! Provider presets, each tested with tokens shaped as that provider documents them,
//! signed by the test's own keys (the presets' key locations are replaced).

use crate::common;

use common::{app, get_bearer, serve};
use reqwest::StatusCode;
use serde_json::{Value, json};
use tower_bearer::policy::{Requirement, role, role_in};
use tower_bearer::testing::TestIssuer;
use tower_bearer::{BearerLayer, Clock as _, Issuer, JwtVerifier, SystemClock};

/// Serves `/me` behind `issuer` (with the test issuer's keys) and returns its URL.
async fn me_url(idp: &TestIssuer, issuer: Issuer, audience: Option<&str>) -> String {
    let mut b = JwtVerifier::builder().issuer(issuer.keys(idp.remote_jwks().build().unwrap()));
    if let Some(aud) = audience {
        b = b.audience(aud);
    }
    format!("{}/me", serve(app(BearerLayer::new(b.build().unwrap()))).await)
}

/// Mints a token with exactly `claims` (plus a fresh `iat`/`exp`), as the provider would.
fn mint(idp: &TestIssuer, claims: Value) -> String {
    let mut t = idp.token();
    for name in ["iss", "aud", "sub", "client_id", "jti"] {
        t = t.claim(name, Value::Null);
    }
    for (k, v) in claims.as_object().unwrap() {
        t = t.claim(k, v.clone());
    }
    t.sign()
}

#[tokio::test]
async fn keycloak() {
    // Keycloak access token: realm and client roles, `azp`, space-delimited `scope`.
    // https://www.keycloak.org/docs/latest/server_admin/index.html#_role_scope_mappings
    // (role claims `realm_access.roles` / `resource_access.<client>.roles`).
    let idp = TestIssuer::start().await;
    let realm = "https://sso.example.com/realms/main";
    let me = me_url(&idp, Issuer::keycloak(realm, "orders-api"), Some("orders-api")).await;
    let token = mint(
        &idp,
        json!({
            "iss": realm, "aud": ["orders-api", "account"], "sub": "f:1:alice", "typ": "Bearer", "azp": "web-app",
            "scope": "openid profile read:items", "preferred_username": "alice",
            "realm_access": {"roles": ["offline_access", "items.admin"]},
            "resource_access": {"orders-api": {"roles": ["orders.write"]}, "account": {"roles": ["manage-account"]}},
        }),
    );
    let r = get_bearer(&me, &token).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(
        r.json()["roles"],
        json!(["offline_access", "items.admin"]),
        "realm roles only: client roles are their own source"
    );
    assert_eq!(r.json()["scopes"], json!(["openid", "profile", "read:items"]));
}

const TENANT: &str = "72f988bf-86f1-41af-91ab-2d7cd011db47";

/// Entra ID v2.0 access token claims.
/// https://learn.microsoft.com/en-us/entra/identity-platform/access-token-claims-reference
fn entra_claims(iss: &str, tid: &str) -> Value {
    json!({
        "aud": "api://orders", "iss": iss, "tid": tid, "ver": "2.0",
        "oid": "00000000-0000-0000-66f3-3332eca7ea81", "sub": "AAAAAAAAAAAAAAAAAAAAAIkzqFVrSaSaFHy782bbtaQ",
        "azp": "6e74172b-be56-4843-9ff4-e66a39bb12e3", "azpacr": "0", "name": "Abe Lincoln",
        "scp": "read:items write:items", "roles": ["items.admin"],
    })
}

#[tokio::test]
async fn entra_id_single_tenant_v2_and_v1() {
    let idp = TestIssuer::start().await;
    let me = me_url(&idp, Issuer::entra_id(TENANT), Some("api://orders")).await;
    let token = mint(&idp, entra_claims(&format!("https://login.microsoftonline.com/{TENANT}/v2.0"), TENANT));
    let r = get_bearer(&me, &token).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.json()["scopes"], json!(["read:items", "write:items"]));
    assert_eq!(r.json()["roles"], json!(["items.admin"]));
    // A v1.0 token (issuer sts.windows.net) is a different issuer.
    let v1 = mint(&idp, entra_claims(&format!("https://sts.windows.net/{TENANT}/"), TENANT));
    assert_eq!(get_bearer(&me, &v1).await.status, StatusCode::UNAUTHORIZED);
    let me_v1 = me_url(&idp, Issuer::entra_id_v1(TENANT), Some("api://orders")).await;
    assert_eq!(get_bearer(&me_v1, &v1).await.status, StatusCode::OK);
}

#[tokio::test]
async fn entra_id_multi_tenant_template() {
    let idp = TestIssuer::start().await;
    let me = me_url(&idp, Issuer::entra_id_multi_tenant(), Some("api://orders")).await;
    let other_tenant = "9188040d-6c67-4c5b-b112-36a304b66dad";
    for tid in [TENANT, other_tenant] {
        let token = mint(&idp, entra_claims(&format!("https://login.microsoftonline.com/{tid}/v2.0"), tid));
        assert_eq!(get_bearer(&me, &token).await.status, StatusCode::OK, "tenant {tid}");
    }
    // `iss` of one tenant with `tid` of another; a `tid` trying to inject a path.
    let mismatch = mint(&idp, entra_claims(&format!("https://login.microsoftonline.com/{TENANT}/v2.0"), other_tenant));
    assert_eq!(get_bearer(&me, &mismatch).await.status, StatusCode::UNAUTHORIZED);
    let sneaky = "evil.example/x";
    let injected = mint(&idp, entra_claims(&format!("https://login.microsoftonline.com/{sneaky}/v2.0"), sneaky));
    assert_eq!(get_bearer(&me, &injected).await.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn auth0() {
    // Auth0 access token for an API with RBAC "Add Permissions in the Access Token":
    // https://auth0.com/docs/get-started/apis/enable-role-based-access-control-for-apis
    // `aud` holds the API identifier (and /userinfo when `openid` was requested):
    // https://auth0.com/docs/secure/tokens/access-tokens/access-token-profiles
    let idp = TestIssuer::start().await;
    let domain = "example.eu.auth0.com";
    let me = me_url(
        &idp,
        Issuer::auth0(domain).roles_claim(tower_bearer::ClaimPath::key("https://example.com/roles")),
        Some("https://orders.example.com"),
    )
    .await;
    let token = mint(
        &idp,
        json!({
            "iss": format!("https://{domain}/"), "sub": "auth0|5f7c8ec7c33c6c004bbafe82",
            "aud": ["https://orders.example.com", format!("https://{domain}/userinfo")],
            "azp": "tKbTQzW1KzUZw9HnyAd8PZoE8bG9BUpT", "scope": "openid read:items",
            "permissions": ["read:items", "delete:items"], "https://example.com/roles": ["support"],
        }),
    );
    let r = get_bearer(&me, &token).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.json()["roles"], json!(["support"]), "permissions are their own source, not roles");
    // The issuer has a trailing slash in Auth0: without it, it is another issuer.
    let no_slash = mint(&idp, json!({"iss": format!("https://{domain}"), "aud": "https://orders.example.com"}));
    assert_eq!(get_bearer(&me, &no_slash).await.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn okta() {
    // Okta custom authorization server access token: `scp` array, `cid`, `uid`:
    // https://developer.okta.com/docs/api/openapi/okta-oauth/guides/overview/#access-token-payload
    let idp = TestIssuer::start().await;
    let iss = "https://example.okta.com/oauth2/default";
    let me = me_url(&idp, Issuer::okta(iss), Some("api://default")).await;
    let token = mint(
        &idp,
        json!({
            "ver": 1, "jti": "AT.0mP4JKAZX1iACIT4vbEDF7LpvDVjxypPMf0D7uX39RE", "iss": iss, "aud": "api://default",
            "cid": "0oa1pcdkf2r7Sp8Li0h8", "uid": "00u1pcla5qYIREDLWCQV", "scp": ["openid", "read:items"],
            "sub": "alice@example.com", "groups": ["Everyone", "items.admin"],
        }),
    );
    let r = get_bearer(&me, &token).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.json()["scopes"], json!(["openid", "read:items"]));
    assert_eq!(r.json()["roles"], json!(["Everyone", "items.admin"]));
}

#[tokio::test]
async fn cognito() {
    // Cognito user pool access token: no `aud`, `client_id`, `token_use`, `cognito:groups`:
    // https://docs.aws.amazon.com/cognito/latest/developerguide/amazon-cognito-user-pools-using-the-access-token.html
    let idp = TestIssuer::start().await;
    let (region, pool, client) = ("eu-west-1", "eu-west-1_AbCdEf123", "3p1ipvh7ii2ipvhv1qbbks9f0v");
    let me = me_url(&idp, Issuer::cognito(region, pool, client), None).await;
    let iss = format!("https://cognito-idp.{region}.amazonaws.com/{pool}");
    let access = json!({
        "sub": "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee", "cognito:groups": ["items.admin"], "iss": iss,
        "version": 2, "client_id": client, "origin_jti": "x", "event_id": "y", "token_use": "access",
        "scope": "aws.cognito.signin.user.admin read:items", "auth_time": SystemClock.now(), "username": "alice",
    });
    let r = get_bearer(&me, &mint(&idp, access.clone())).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.json()["roles"], json!(["items.admin"]));
    // An ID token of the same pool (`token_use` id, `aud` instead of `client_id`).
    let mut id = access.clone();
    id["token_use"] = json!("id");
    assert_eq!(get_bearer(&me, &mint(&idp, id)).await.status, StatusCode::UNAUTHORIZED);
    // An access token for another app client.
    let mut other = access;
    other["client_id"] = json!("another-client");
    assert_eq!(get_bearer(&me, &mint(&idp, other)).await.status, StatusCode::UNAUTHORIZED);
}

/// Serves `/check` behind `issuer`, answering 200 only when `requirement` holds.
async fn check_url(idp: &TestIssuer, issuer: Issuer, audience: &str, requirement: Requirement) -> String {
    let verifier = JwtVerifier::builder()
        .issuer(issuer.keys(idp.remote_jwks().build().unwrap()))
        .audience(audience)
        .build()
        .unwrap();
    let auth = BearerLayer::new(verifier);
    let router = axum::Router::new()
        .route("/check", axum::routing::get(|| async { "ok" }).route_layer(auth.requiring(requirement)))
        .layer(auth);
    format!("{}/check", serve(router).await)
}

/// Preset name, issuer, audience, token claims, a `role(..)` check that must fail and
/// the same name in the preset's own source, which must pass.
type PresetCase = (&'static str, fn() -> Issuer, &'static str, Value, Requirement, Requirement);

/// Issue 13 item 3: a role from another source never satisfies `role(..)`, per preset.
#[tokio::test]
async fn role_sources_are_kept_apart_per_preset() {
    let idp = TestIssuer::start().await;
    let realm = "https://sso.example.com/realms/main";
    let keycloak = json!({
        "iss": realm, "aud": "reports-api", "sub": "u",
        "realm_access": {"roles": ["user"]},
        "resource_access": {"reports-api": {"roles": ["admin"]}, "other": {"roles": ["root"]}},
    });
    let entra_iss = format!("https://login.microsoftonline.com/{TENANT}/v2.0");
    let entra = json!({"iss": entra_iss, "aud": "api-guid", "sub": "u", "roles": ["Reader"], "groups": ["admin"]});
    let auth0_iss = "https://example.eu.auth0.com/";
    let auth0 = json!({"iss": auth0_iss, "aud": "https://api", "sub": "u", "permissions": ["admin"]});
    let cases: Vec<PresetCase> = vec![
        (
            "keycloak",
            || Issuer::keycloak("https://sso.example.com/realms/main", "reports-api"),
            "reports-api",
            keycloak.clone(),
            role("admin"),
            role_in("client", "admin"),
        ),
        ("entra", || Issuer::entra_id(TENANT), "api-guid", entra, role("admin"), role_in("groups", "admin")),
        (
            "auth0",
            || Issuer::auth0("example.eu.auth0.com"),
            "https://api",
            auth0,
            role("admin"),
            role_in("permissions", "admin"),
        ),
    ];
    for (name, issuer, aud, claims, realm_check, source_check) in cases {
        let token = mint(&idp, claims);
        let realm_url = check_url(&idp, issuer(), aud, realm_check).await;
        let r = get_bearer(&realm_url, &token).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{name}: another source never satisfies role(..)");
        let source_url = check_url(&idp, issuer(), aud, source_check).await;
        assert_eq!(get_bearer(&source_url, &token).await.status, StatusCode::OK, "{name}: its own source");
    }
    // Another client's roles are not this client's.
    let url = check_url(&idp, Issuer::keycloak(realm, "reports-api"), "reports-api", role_in("client", "root")).await;
    assert_eq!(get_bearer(&url, &mint(&idp, keycloak.clone())).await.status, StatusCode::FORBIDDEN);
    // `roles_claim` replaces the preset's paths instead of adding to them.
    let replaced = Issuer::keycloak(realm, "reports-api").roles_claim("resource_access.other.roles");
    let url = check_url(&idp, replaced, "reports-api", role("user")).await;
    assert_eq!(get_bearer(&url, &mint(&idp, keycloak)).await.status, StatusCode::FORBIDDEN, "realm roles gone");
}
