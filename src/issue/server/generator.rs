//! Pluggable token generators (Authlib's `OAUTH2_ACCESS_TOKEN_GENERATOR` and
//! `OAUTH2_REFRESH_TOKEN_GENERATOR`): [`TokenGenerator`], what it is told
//! ([`TokenContext`]), and the default, [`RandomToken`].

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use super::client::GrantType;

/// What a [`TokenGenerator`] knows about the token it makes.
#[derive(Clone, Copy, Debug)]
#[non_exhaustive]
pub struct TokenContext<'a> {
    /// The client the token is issued to.
    pub client_id: &'a str,
    /// The grant of the token request.
    pub grant_type: GrantType,
    /// `sub`: the user's login, or the `client_id` for client credentials.
    pub subject: &'a str,
    /// The scopes the token carries.
    pub scopes: &'a [String],
}

/// Why a [`TokenGenerator`] made no token: the token request is answered
/// `503 temporarily_unavailable` and the error logged.
pub type GeneratorError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Makes refresh tokens, and opaque access tokens
/// ([`AccessTokenFormat::Opaque`](super::AccessTokenFormat::Opaque)).
///
/// A token is looked up by its hash alone, so a generator must make values nobody can
/// guess and that never repeat: at least 128 bits from a secure random generator,
/// whatever else it encodes. Access tokens must be RFC 6750 `b64token`s (they travel in
/// `Authorization: Bearer`), refresh tokens printable ASCII; both at least 32 and at
/// most 4096 characters. A value breaking these rules is not issued (the request is
/// answered `503`), and neither is one that repeats a token still on record: its
/// record is never overwritten. A refresh token is sent as a secret naming its grant,
/// a `.`, then the generator's value ([`Grant::id_for_code`](super::Grant::id_for_code)),
/// so a scanner's prefix for refresh tokens follows the first `.`.
///
/// ```
/// use tower_bearer::issue::server::{GeneratorError, RandomToken, TokenContext, TokenGenerator};
///
/// /// Tokens a secret scanner recognises: a prefix, then 256 random bits.
/// struct Prefixed;
///
/// impl TokenGenerator for Prefixed {
///     fn generate(&self, context: &TokenContext<'_>) -> Result<String, GeneratorError> {
///         Ok(format!("myapp_{}", RandomToken.generate(context)?))
///     }
/// }
/// ```
pub trait TokenGenerator: Send + Sync + 'static {
    /// A new token for `context`.
    fn generate(&self, context: &TokenContext<'_>) -> Result<String, GeneratorError>;
}

/// The default generator: 256 bits from the crypto backend's secure generator,
/// base64url without padding (43 characters).
#[derive(Clone, Copy, Debug, Default)]
pub struct RandomToken;

impl TokenGenerator for RandomToken {
    fn generate(&self, _context: &TokenContext<'_>) -> Result<String, GeneratorError> {
        Ok(random_token()?)
    }
}

/// 256 random bits, base64url: a token, a grant id or a `jti`.
pub(crate) fn random_token() -> Result<String, crate::signing::SigningError> {
    crate::signing::random_bytes(32).map(|bytes| URL_SAFE_NO_PAD.encode(bytes))
}

/// Longest token accepted from a generator.
const MAX_TOKEN_LEN: usize = 4096;

/// Shortest token accepted from a generator: no syntax check sees entropy, but a
/// value this short cannot hold 128 random bits in any usual encoding (hex needs 32).
const MIN_TOKEN_LEN: usize = 32;

/// Whether a generated `token` is at least [`MIN_TOKEN_LEN`] characters long.
pub(crate) fn long_enough(token: &str) -> bool {
    token.len() >= MIN_TOKEN_LEN
}

/// Whether `token` may be sent as a bearer access token: an RFC 6750 §2.1 `b64token`
/// (`1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="`).
pub(crate) fn is_b64token(token: &str) -> bool {
    let body = token.trim_end_matches('=');
    !body.is_empty()
        && token.len() <= MAX_TOKEN_LEN
        && body.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'+' | b'/'))
}

/// Whether `token` may be sent as a refresh token: RFC 6749 Appendix A.17, `1*VSCHAR`.
pub(crate) fn is_vschar_token(token: &str) -> bool {
    !token.is_empty() && token.len() <= MAX_TOKEN_LEN && token.bytes().all(|b| (0x20..=0x7e).contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_syntax() {
        let context =
            TokenContext { client_id: "c", grant_type: GrantType::ClientCredentials, subject: "c", scopes: &[] };
        let token = RandomToken.generate(&context).unwrap();
        assert_eq!(token.len(), 43);
        assert!(is_b64token(&token) && is_vschar_token(&token));
        assert_ne!(token, RandomToken.generate(&context).unwrap());
        assert!(is_b64token("abc+/=="));
        assert!(!is_b64token("=="));
        assert!(!is_b64token("a b"));
        assert!(!is_b64token("a=b"));
        assert!(!is_vschar_token("a\nb"));
        assert!(!is_vschar_token(""));
        assert!(!is_b64token(&"a".repeat(5000)));
        assert!(long_enough(&token) && long_enough(&"a".repeat(32)));
        assert!(!long_enough(&"a".repeat(31)));
    }
}
