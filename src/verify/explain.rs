//! [`JwtVerifier::explain`]: the answer to "why is my token refused?", check by check.

use http::header::AUTHORIZATION;
use http::{HeaderMap, HeaderValue, Method, Uri};

use super::JwtVerifier;
use super::binding::refuse_bound_traced;
use super::trace::{Check, Recorder, Step, traced};
use crate::claims::VerifiedToken;
use crate::reject::{AuthError, InvalidRequest};
use crate::token::{BearerToken, Locations, RequestHead};

/// What [`JwtVerifier::explain`] found: every check that ran, in order, and the verdict.
#[derive(Debug)]
pub struct Explanation {
    /// The checks that ran, in order; the first failure is the last step.
    pub steps: Vec<Step>,
    /// What [`Verifier::verify`](super::Verifier::verify) answers for this token.
    pub verdict: Result<VerifiedToken, AuthError>,
}

impl JwtVerifier {
    /// Verifies `token` like [`verify`](super::Verifier::verify) (the same code, not a
    /// copy of it) and reports each check as it ran: what the layer would decide, and
    /// why. First comes the layer's credential syntax, as in `Authorization: Bearer
    /// <token>` with the default length cap. Loads keys when needed, like a request
    /// would. A token the verified-token cache holds shows as one [`Check::Cache`]
    /// step: build the verifier with `no_token_cache()` to see every check.
    ///
    /// The steps and the verdict hold no part of the token beyond what
    /// [`VerifiedToken`] holds (header and claims, never the signature).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// use tower_bearer::{Check, InvalidToken, Issuer, JwtVerifier};
    /// use tower_bearer::keys::{StaticKeys, VerificationKey};
    ///
    /// let key = VerificationKey::hmac_secret(b"a-local-secret-of-at-least-32-bytes!", None).unwrap();
    /// let verifier = JwtVerifier::builder()
    ///     .issuer(Issuer::new("https://auth.example.com").keys(StaticKeys::from(key)))
    ///     .audience("my-api")
    ///     .build()
    ///     .unwrap();
    /// let explained = verifier.explain("not-a-jwt").await;
    /// let last = explained.steps.last().unwrap();
    /// assert_eq!(last.check, Check::Compact);
    /// assert_eq!(last.outcome, Err(InvalidToken::Malformed.into()));
    /// assert!(explained.verdict.is_err());
    /// # }
    /// ```
    pub async fn explain(&self, token: &str) -> Explanation {
        let recorder = Recorder::default();
        let verdict = match traced(&recorder, Check::Syntax, credential(token)) {
            Ok(bearer) => {
                refuse_bound_traced(self.verify_traced(&bearer, recorder.clone()), recorder.clone()).resolve().await
            }
            Err(e) => Err(e),
        };
        Explanation { steps: recorder.steps(), verdict }
    }
}

/// The token as the layer's default location reads it from `Authorization: Bearer`.
fn credential(token: &str) -> Result<BearerToken, AuthError> {
    let value = HeaderValue::try_from(format!("Bearer {token}")).map_err(|_| InvalidRequest::MalformedHeader)?;
    let mut headers = HeaderMap::new();
    headers.insert(AUTHORIZATION, value);
    let (method, uri) = (Method::GET, Uri::from_static("/"));
    match Locations::default().extract(&RequestHead::new(&method, &uri, &headers)) {
        Ok(Some(bearer)) => Ok(bearer),
        Ok(None) => Err(AuthError::MissingToken),
        Err(e) => Err(e.into()),
    }
}
