//! The authorization server (`tower_bearer::issue::server`, issue 18) over real HTTP on
//! 127.0.0.1, driven by an independent OAuth client (the `oauth2` crate), reqwest, and
//! tower-bearer's own client, introspection and layer. One binary, one module per area
//! under tests/authorization_server/.

mod common;

/// The `oauth2` crate's HTTP client (it has none of its own here), over our reqwest;
/// redirects not followed, as the `oauth2` crate asks of its clients.
async fn oauth2_http(request: oauth2::HttpRequest) -> Result<oauth2::HttpResponse, reqwest::Error> {
    static CLIENT: std::sync::OnceLock<reqwest::Client> = std::sync::OnceLock::new();
    let client = CLIENT.get_or_init(|| {
        reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("a reqwest client")
    });
    let (parts, body) = request.into_parts();
    let response = client.request(parts.method, parts.uri.to_string()).headers(parts.headers).body(body).send().await?;
    let mut answer = http::Response::builder().status(response.status());
    for (name, value) in response.headers() {
        answer = answer.header(name, value);
    }
    Ok(answer.body(response.bytes().await?.to_vec()).unwrap())
}

#[path = "authorization_server/authorize.rs"]
mod authorize;
#[path = "authorization_server/example.rs"]
mod example;
#[path = "authorization_server/introspection.rs"]
mod introspection;
#[path = "authorization_server/keys.rs"]
mod keys;
#[path = "authorization_server/metadata.rs"]
mod metadata;
#[path = "authorization_server/revocation.rs"]
mod revocation;
#[path = "authorization_server/store.rs"]
mod store;
#[path = "authorization_server/token.rs"]
mod token;
