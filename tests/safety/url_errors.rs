//! What a refused URL says: a scheme typo is an unsupported scheme, plain HTTP to a
//! non-loopback host names what the URL is for (JWKS, discovery, token endpoint,
//! introspection endpoint) and how to opt out on a closed network.

use std::time::Duration;

use axum::Router;
use axum::routing::get;
use serde_json::json;
use tower_bearer::ClientAuth;
use tower_bearer::client::{ClientCredentials, RetryPolicy, TokenSource};
use tower_bearer::introspect::IntrospectionVerifier;
use tower_bearer::keys::RemoteJwks;
use tower_bearer::{Issuer, JwtVerifier};

/// The docker-compose setup the messages must help with.
const COMPOSE_REALM: &str = "http://keycloak:8080/realms/main";

fn verifier_error(issuer: Issuer) -> String {
    match JwtVerifier::builder().issuer(issuer).audience("orders-api").build() {
        Ok(_) => panic!("built"),
        Err(e) => e.to_string(),
    }
}

fn client_error(builder: tower_bearer::client::ClientCredentialsBuilder) -> String {
    match builder.client_auth(tower_bearer::ClientAuth::basic("c", "s")).build() {
        Ok(_) => panic!("built"),
        Err(e) => e.to_string(),
    }
}

fn introspection_error(builder: tower_bearer::introspect::IntrospectionVerifierBuilder) -> String {
    let auth = ClientAuth::basic("rs", "s");
    match builder.client_auth(auth).audience("api").build() {
        Ok(_) => panic!("built"),
        Err(e) => e.to_string(),
    }
}

fn assert_http_refused(message: &str, what: &str, opt_out: &str) {
    assert!(message.contains(what), "names what the URL is for ({what}): {message}");
    assert!(message.contains("HTTPS is required"), "{message}");
    assert!(message.contains(opt_out), "says how to opt out ({opt_out}): {message}");
    assert!(!message.contains("key URL") && !message.contains("unsupported scheme"), "{message}");
}

// Issue 13, item 5: `htps://` is a typo, not a request for plain HTTP.
#[test]
fn a_scheme_typo_is_an_unsupported_scheme() {
    let messages = [
        ("JWKS URL", RemoteJwks::from_url("htps://idp.example.com/jwks").err().unwrap().to_string()),
        ("JWKS URL", verifier_error(Issuer::new("https://idp.example.com").jwks_url("htps://idp.example.com/jwks"))),
        ("issuer", verifier_error(Issuer::keycloak("htps://sso.example.com/realms/main", "orders-api"))),
        ("token endpoint", client_error(ClientCredentials::builder().token_url("htps://sso.example.com/token"))),
        ("issuer", client_error(ClientCredentials::builder().discover("ftp://sso.example.com/realms/main"))),
        (
            "introspection endpoint",
            introspection_error(IntrospectionVerifier::builder().endpoint("htps://sso.example.com/introspect")),
        ),
    ];
    for (what, message) in messages {
        assert!(message.contains("unsupported scheme"), "{message}");
        assert!(message.contains(what), "names what the URL is for ({what}): {message}");
        assert!(!message.contains("HTTPS is required") && !message.contains("key URL"), "{message}");
    }
    let message = RemoteJwks::from_url("htps://idp.example.com/jwks").err().unwrap().to_string();
    assert!(message.contains(r#"unsupported scheme "htps""#), "{message}");
}

// Issue 13, item 5: a preset on the docker-compose network says how to allow HTTP,
// and following the advice works.
#[test]
fn an_http_issuer_says_how_to_opt_out() {
    let message = verifier_error(Issuer::keycloak(COMPOSE_REALM, "orders-api"));
    assert_http_refused(&message, "issuer", "dangerous_allow_http(true)");
    assert!(message.contains(COMPOSE_REALM) && message.contains("discovery"), "{message}");
    assert!(message.contains("Issuer::keys"), "says where the opted-out key store goes: {message}");

    let keys = RemoteJwks::builder().discovery(COMPOSE_REALM).dangerous_allow_http(true).build().unwrap();
    let opted_out = JwtVerifier::builder().issuer(Issuer::keycloak(COMPOSE_REALM, "orders-api").keys(keys));
    assert!(opted_out.audience("orders-api").build().is_ok());
}

#[test]
fn an_http_jwks_url_names_it_and_the_opt_out() {
    let certs = "http://keycloak:8080/realms/main/protocol/openid-connect/certs";
    let message = verifier_error(Issuer::new("https://sso.example.com").jwks_url(certs));
    assert_http_refused(&message, "JWKS URL", "RemoteJwks::builder()");
    assert!(message.contains("dangerous_allow_http(true)") && message.contains(certs), "{message}");
}

#[test]
fn an_http_token_endpoint_is_named_a_token_endpoint() {
    let token_url = "http://keycloak:8080/realms/main/protocol/openid-connect/token";
    let message = client_error(ClientCredentials::builder().token_url(token_url));
    assert_http_refused(&message, "token endpoint", "ClientCredentials::builder().dangerous_allow_http(true)");
    assert!(message.contains(token_url), "{message}");

    let message = client_error(ClientCredentials::builder().discover(COMPOSE_REALM));
    assert_http_refused(&message, "token endpoint", "ClientCredentials::builder().dangerous_allow_http(true)");
    assert!(message.contains("issuer") && message.contains("discovery"), "{message}");
}

#[test]
fn an_http_introspection_endpoint_is_named_an_introspection_endpoint() {
    let endpoint = "http://keycloak:8080/realms/main/protocol/openid-connect/token/introspect";
    let message = introspection_error(IntrospectionVerifier::builder().endpoint(endpoint));
    assert_http_refused(
        &message,
        "introspection endpoint",
        "IntrospectionVerifier::builder().dangerous_allow_http(true)",
    );
    assert!(message.contains(endpoint), "{message}");

    let message = introspection_error(IntrospectionVerifier::builder().discover(COMPOSE_REALM));
    assert_http_refused(
        &message,
        "introspection endpoint",
        "IntrospectionVerifier::builder().dangerous_allow_http(true)",
    );
    assert!(message.contains("issuer") && message.contains("discovery"), "{message}");
}

/// A loopback issuer whose discovery document points at plain-HTTP endpoints elsewhere.
async fn issuer_pointing_at_http() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let issuer = format!("http://{}", listener.local_addr().unwrap());
    let doc = json!({
        "issuer": issuer,
        "jwks_uri": "http://keycloak:8080/certs",
        "token_endpoint": "http://keycloak:8080/token",
    })
    .to_string();
    let app = Router::new().route("/.well-known/openid-configuration", get(move || std::future::ready(doc.clone())));
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    issuer
}

// Issue 13, item 5: an endpoint found in a discovery document says where it came from.
#[tokio::test]
async fn a_discovered_http_endpoint_names_the_discovery_document() {
    let issuer = issuer_pointing_at_http().await;

    let keys = RemoteJwks::discover(&issuer).unwrap();
    let message = keys.prefetch().await.unwrap_err().to_string();
    assert_http_refused(&message, "JWKS URL", "dangerous_allow_http(true)");
    assert!(message.contains("http://keycloak:8080/certs") && message.contains("jwks_uri"), "{message}");

    let once = RetryPolicy { max_attempts: 1, base_delay: Duration::from_millis(1), ..RetryPolicy::default() };
    let tokens = ClientCredentials::builder()
        .discover(&issuer)
        .client_auth(tower_bearer::ClientAuth::basic("c", "s"))
        .retry(once)
        .build()
        .unwrap();
    let message = tokens.token().await.unwrap_err().to_string();
    assert_http_refused(&message, "token endpoint", "ClientCredentials::builder().dangerous_allow_http(true)");
    assert!(message.contains("http://keycloak:8080/token") && message.contains("token_endpoint"), "{message}");
}
