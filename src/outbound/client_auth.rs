//! How a client authenticates to the authorization server's token and introspection
//! endpoints, encoded once.

use std::fmt;
use std::sync::Arc;

/// How this application authenticates to the authorization server: at the token
/// endpoint ([`ClientCredentials`](crate::client::ClientCredentials)) and the
/// introspection endpoint
/// ([`IntrospectionVerifier`](crate::introspect::IntrospectionVerifier)).
///
/// `Debug` never shows the secret.
///
/// ```
/// use tower_bearer::ClientAuth;
/// let basic = ClientAuth::basic("orders-api", "s3cret"); // client_secret_basic
/// let post = ClientAuth::post("orders-api", "s3cret"); // client_secret_post
/// assert_eq!(basic.client_id(), Some("orders-api"));
/// assert!(!format!("{post:?}").contains("s3cret"));
/// ```
#[derive(Clone)]
pub struct ClientAuth(Method);

#[derive(Clone)]
enum Method {
    Basic { client_id: String, client_secret: String },
    Post { client_id: String, client_secret: String },
    Custom(Arc<dyn Fn(reqwest::RequestBuilder) -> reqwest::RequestBuilder + Send + Sync>),
    None,
}

impl ClientAuth {
    /// HTTP Basic with the client id and secret (`client_secret_basic`), each
    /// form-encoded first as RFC 6749 §2.3.1 requires.
    pub fn basic(client_id: impl Into<String>, client_secret: impl Into<String>) -> Self {
        Self(Method::Basic { client_id: client_id.into(), client_secret: client_secret.into() })
    }

    /// The client id and secret in the form body (`client_secret_post`).
    pub fn post(client_id: impl Into<String>, client_secret: impl Into<String>) -> Self {
        Self(Method::Post { client_id: client_id.into(), client_secret: client_secret.into() })
    }

    /// Anything else (`private_key_jwt` in a header, mTLS headers...): a hook that
    /// decorates each request. Introspection only.
    pub fn custom(hook: impl Fn(reqwest::RequestBuilder) -> reqwest::RequestBuilder + Send + Sync + 'static) -> Self {
        Self(Method::Custom(Arc::new(hook)))
    }

    /// No client authentication. Introspection only.
    pub fn none() -> Self {
        Self(Method::None)
    }

    /// The client id, for `basic` and `post`.
    pub fn client_id(&self) -> Option<&str> {
        match &self.0 {
            Method::Basic { client_id, .. } | Method::Post { client_id, .. } => Some(client_id),
            Method::Custom(_) | Method::None => None,
        }
    }

    /// Authenticates `request`, whose form is `form`.
    pub(crate) fn apply<'a>(
        &'a self,
        request: reqwest::RequestBuilder,
        form: &mut Vec<(&'a str, &'a str)>,
    ) -> reqwest::RequestBuilder {
        match &self.0 {
            Method::Basic { client_id, client_secret } => {
                let encode = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
                request.basic_auth(encode(client_id), Some(encode(client_secret)))
            }
            Method::Post { client_id, client_secret } => {
                form.push(("client_id", client_id));
                form.push(("client_secret", client_secret));
                request
            }
            Method::Custom(hook) => hook(request),
            Method::None => request,
        }
    }
}

impl fmt::Debug for ClientAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Method::Basic { client_id, .. } => {
                f.debug_struct("Basic").field("client_id", client_id).field("client_secret", &"[redacted]").finish()
            }
            Method::Post { client_id, .. } => {
                f.debug_struct("Post").field("client_id", client_id).field("client_secret", &"[redacted]").finish()
            }
            Method::Custom(_) => f.write_str("Custom(..)"),
            Method::None => f.write_str("None"),
        }
    }
}
