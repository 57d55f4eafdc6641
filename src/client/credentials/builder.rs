//! Configuring [`ClientCredentials`]; checked once, in `build`, without I/O.

use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use arc_swap::ArcSwapOption;

use super::{ClientCredentials, Inner, RetryPolicy};
use crate::client::TokenStore;
use crate::error::ConfigError;
use crate::outbound::{self, ClientAuth, EndpointConfig, Rules, UrlUse};
use crate::signing::DpopKey;
use crate::single_flight::SingleFlight;

/// An OAuth token endpoint, in refusals.
const TOKEN_ENDPOINT: UrlUse =
    UrlUse::new("token endpoint", "token_endpoint", ["ClientCredentials::builder().dangerous_allow_http(true)"; 2]);

/// Configures [`ClientCredentials`].
#[must_use]
pub struct ClientCredentialsBuilder {
    endpoint: Option<EndpointConfig>,
    client: Option<reqwest::Client>,
    auth: Option<ClientAuth>,
    scope: Option<String>,
    audience: Option<String>,
    resource: Option<String>,
    skew: Duration,
    default_lifetime: Duration,
    retry: RetryPolicy,
    allow_http: bool,
    timeout: Duration,
    store: Option<Arc<dyn TokenStore>>,
    dpop: Option<DpopKey>,
}

impl ClientCredentials {
    /// Starts configuring: set the endpoint (or discovery) and the client authentication.
    pub fn builder() -> ClientCredentialsBuilder {
        ClientCredentialsBuilder {
            endpoint: None,
            client: None,
            auth: None,
            scope: None,
            audience: None,
            resource: None,
            skew: Duration::from_secs(30),
            default_lifetime: Duration::from_secs(300),
            retry: RetryPolicy::default(),
            allow_http: false,
            timeout: Duration::from_secs(10),
            store: None,
            dpop: None,
        }
    }
}

impl ClientCredentialsBuilder {
    /// The token endpoint URL.
    pub fn token_url(mut self, url: &str) -> Self {
        self.endpoint = Some(EndpointConfig::Url(url.to_owned()));
        self
    }

    /// Finds `token_endpoint` in `issuer`'s discovery document (on first use, and
    /// again after a failed request).
    pub fn discover(mut self, issuer: &str) -> Self {
        self.endpoint = Some(EndpointConfig::Discover(issuer.to_owned()));
        self
    }

    /// The client id and secret: [`ClientAuth::basic`] (`client_secret_basic`) or
    /// [`ClientAuth::post`] (`client_secret_post`). Required. The secret is never
    /// shown by `Debug` or logs.
    pub fn client_auth(mut self, auth: ClientAuth) -> Self {
        self.auth = Some(auth);
        self
    }

    /// Space-separated scopes to ask for.
    pub fn scope(mut self, scope: impl Into<String>) -> Self {
        self.scope = Some(scope.into());
        self
    }

    /// Auth0's `audience` parameter.
    pub fn audience(mut self, audience: impl Into<String>) -> Self {
        self.audience = Some(audience.into());
        self
    }

    /// RFC 8707 `resource` parameter.
    pub fn resource(mut self, resource: impl Into<String>) -> Self {
        self.resource = Some(resource.into());
        self
    }

    /// A token is replaced this long before it expires (30 s).
    pub fn skew(mut self, skew: Duration) -> Self {
        self.skew = skew;
        self
    }

    /// Lifetime assumed when the server gives neither `expires_in` nor a JWT `exp` (5 min).
    pub fn default_lifetime(mut self, lifetime: Duration) -> Self {
        self.default_lifetime = lifetime;
        self
    }

    /// Retry settings.
    pub fn retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// Uses this HTTP client. For certificate-bound tokens (RFC 8705 §3), a client
    /// with the client's TLS certificate: the authorization server binds the token to
    /// it, and the API checks it (give [`AuthorizedClient`](crate::client::AuthorizedClient)
    /// the same client). Redirects should stay off (a redirected answer is refused).
    ///
    /// ```no_run
    /// # fn f() -> Result<(), Box<dyn std::error::Error>> {
    /// use tower_bearer::client::{ClientCredentials, reqwest};
    /// // The certificate chain and its private key, in one PEM file.
    /// let pem = std::fs::read("client.pem")?;
    /// let tls = reqwest::Client::builder()
    ///     .identity(reqwest::Identity::from_pem(&pem)?)
    ///     .redirect(reqwest::redirect::Policy::none())
    ///     .build()?;
    /// let source = ClientCredentials::builder()
    ///     .token_url("https://sso.example.com/oauth2/token")
    ///     .client_auth(tower_bearer::ClientAuth::post("billing", "s3cret"))
    ///     .http_client(tls.clone())
    ///     .build()?;
    /// let api = tower_bearer::client::AuthorizedClient::new(tls, source);
    /// # let _ = api; Ok(()) }
    /// ```
    pub fn http_client(mut self, client: reqwest::Client) -> Self {
        self.client = Some(client);
        self
    }

    /// Time allowed for one token request (10 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Allows `http://` token endpoints that are not on loopback.
    pub fn dangerous_allow_http(mut self, allow: bool) -> Self {
        self.allow_http = allow;
        self
    }

    /// Shares tokens through `store` (e.g. [`RedisStore`](crate::client::RedisStore)):
    /// instances with the same endpoint, client and scopes use one token, and only one
    /// renews it at a time. A failing store never blocks: each instance then fetches its own.
    pub fn store(mut self, store: impl TokenStore) -> Self {
        self.store = Some(Arc::new(store));
        self
    }

    /// Asks for DPoP-bound tokens (RFC 9449): each token request carries a proof
    /// signed by `key`, and the tokens the server binds to it (`token_type` `DPoP`)
    /// are sent with a fresh proof per request by [`AddTokenLayer`](crate::client::AddTokenLayer)
    /// and [`AuthorizedClient`](crate::client::AuthorizedClient). A server that ignores
    /// DPoP and answers `token_type` `Bearer` is logged (info) and its token used as a
    /// Bearer token.
    ///
    /// Make the key once per process with [`DpopKey::generate`] (ES256 is what
    /// servers accept first), or load it with [`DpopKey::from_jwk`] to keep it across
    /// restarts. Instances sharing tokens through a [`store`](Self::store) must all
    /// hold the same key to share one token: a stored token bound to another key is
    /// never taken (each key gets its own stored token).
    ///
    /// ```no_run
    /// # fn f() -> Result<(), Box<dyn std::error::Error>> {
    /// use tower_bearer::Algorithm;
    /// use tower_bearer::client::ClientCredentials;
    /// use tower_bearer::signing::DpopKey;
    /// let source = ClientCredentials::builder()
    ///     .discover("https://sso.example.com/realms/main")
    ///     .client_auth(tower_bearer::ClientAuth::basic("billing", "s3cret"))
    ///     .dpop(DpopKey::generate(Algorithm::ES256)?)
    ///     .build()?;
    /// # let _ = source; Ok(()) }
    /// ```
    pub fn dpop(mut self, key: DpopKey) -> Self {
        self.dpop = Some(key);
        self
    }

    /// Checks the configuration. No I/O happens here.
    pub fn build(self) -> Result<ClientCredentials, ConfigError> {
        let endpoint = self
            .endpoint
            .ok_or_else(|| ConfigError::new("client credentials need a token_url or a discovery issuer"))?
            .build(TOKEN_ENDPOINT, Rules::allowing_http(self.allow_http))
            .map_err(ConfigError::new)?;
        // RFC 6749 §4.4: the client authenticates, with its id and secret.
        let (auth, client_id) = match self.auth {
            Some(auth) => match auth.client_id() {
                Some(id) => {
                    let id = id.to_owned();
                    (auth, id)
                }
                None => return Err(ConfigError::new(NEEDS_AUTH)),
            },
            None => return Err(ConfigError::new(NEEDS_AUTH)),
        };
        // One shared token per endpoint, client, request parameters and DPoP key.
        let store_key = {
            use sha2::Digest as _;
            let mut parts = vec![
                endpoint.describe(),
                client_id.clone(),
                format!("{:?}", (&self.scope, &self.audience, &self.resource)),
            ];
            // Unchanged without DPoP, so entries stored before stay shared.
            parts.extend(self.dpop.as_ref().map(|key| format!("dpop {}", key.thumbprint())));
            let digest = sha2::Sha256::digest(parts.join("\n").as_bytes());
            format!("tower-bearer:token:{}", digest.iter().map(|b| format!("{b:02x}")).collect::<String>())
        };
        let client = outbound::http_client(self.client, self.timeout, outbound::CONNECT_TIMEOUT)?;
        Ok(ClientCredentials {
            inner: Arc::new(Inner {
                endpoint,
                client,
                auth,
                client_id,
                scope: self.scope,
                audience: self.audience,
                resource: self.resource,
                skew: self.skew,
                default_lifetime: self.default_lifetime.max(Duration::from_secs(1)),
                retry: self.retry,
                timeout: self.timeout,
                cached: ArcSwapOption::empty(),
                refresh_token: ArcSwapOption::empty(),
                flight: SingleFlight::default(),
                renewing: AtomicBool::new(false),
                store: self.store.map(|s| (s, store_key)),
                refused: ArcSwapOption::empty(),
                last_refusal: std::sync::Mutex::new(None),
                dpop: self.dpop.map(Arc::new),
                nonce: ArcSwapOption::empty(),
                metrics: crate::metrics::ClientMetrics::register(),
            }),
        })
    }
}

const NEEDS_AUTH: &str =
    "client credentials need .client_auth(ClientAuth::basic(id, secret)) or .client_auth(ClientAuth::post(id, secret))";
