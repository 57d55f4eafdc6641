//! Request parameters (RFC 6749 §3.1, §3.2): `application/x-www-form-urlencoded`,
//! each at most once, empty ones treated as omitted.

use super::error::OAuthError;

/// Most parameters one request may carry; more is not a real client.
const MAX_PARAMS: usize = 64;

/// The parameters of one request, unique by name.
#[derive(Clone, Default)]
pub(crate) struct Params(Vec<(String, String)>);

impl std::fmt::Debug for Params {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Values hold secrets (client_secret, code, refresh_token, code_verifier).
        f.debug_list().entries(self.0.iter().map(|(k, _)| k)).finish()
    }
}

impl Params {
    /// Parses a query string or form body. A repeated parameter is
    /// `invalid_request` (RFC 6749 §3.1: "MUST NOT be included more than once").
    pub(crate) fn parse(input: &[u8]) -> Result<Self, OAuthError> {
        let (params, repeated) = Self::parse_keeping_repeats(input)?;
        match repeated.first() {
            Some(name) => Err(repeated_error(name)),
            None => Ok(params),
        }
    }

    /// Like [`Params::parse`], but the names of repeated parameters are returned
    /// instead of refused (their values are dropped): the authorization endpoint must
    /// know whether `client_id` and `redirect_uri` were repeated before it chooses
    /// between an error page and an error redirect.
    pub(crate) fn parse_keeping_repeats(input: &[u8]) -> Result<(Self, Vec<String>), OAuthError> {
        let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(input)
            .map_err(|_| OAuthError::invalid_request("the parameters are not form-urlencoded"))?;
        if pairs.len() > MAX_PARAMS {
            return Err(OAuthError::invalid_request("too many parameters"));
        }
        let mut kept: Vec<(String, String)> = Vec::with_capacity(pairs.len());
        let mut repeated: Vec<String> = Vec::new();
        for (name, value) in pairs {
            if kept.iter().any(|(k, _)| *k == name) {
                if !repeated.contains(&name) {
                    repeated.push(name);
                }
                continue;
            }
            kept.push((name, value));
        }
        // Neither value of a repeated parameter is to be trusted.
        kept.retain(|(k, _)| !repeated.contains(k));
        // Sent without a value = omitted (§3.1); still counted above as a repeat.
        kept.retain(|(_, v)| !v.is_empty());
        Ok((Self(kept), repeated))
    }

    /// The value of `name`, if present and not empty.
    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.0.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    /// The value of `name`, or `invalid_request` naming it.
    pub(crate) fn require(&self, name: &str) -> Result<&str, OAuthError> {
        self.get(name).ok_or_else(|| OAuthError::invalid_request(format!("missing parameter {name}")))
    }
}

/// `invalid_request` for the repeated parameter `name`.
pub(crate) fn repeated_error(name: &str) -> OAuthError {
    OAuthError::invalid_request(format!("parameter {} is repeated", printable(name)))
}

/// A parameter name as safe to echo in a description: printable ASCII, at most 64
/// characters.
fn printable(name: &str) -> String {
    name.chars().filter(|c| c.is_ascii_graphic()).take(64).collect()
}

#[cfg(test)]
mod tests {
    use super::Params;

    #[test]
    fn repeats_are_refused_and_empty_values_omitted() {
        assert!(Params::parse(b"a=1&a=2").is_err());
        assert!(Params::parse(b"a=&a=2").is_err());
        let p = Params::parse(b"a=1&b=&c=x+y%21").unwrap();
        assert_eq!(p.get("a"), Some("1"));
        assert_eq!(p.get("b"), None);
        assert_eq!(p.get("c"), Some("x y!"));
        let (p, repeated) = Params::parse_keeping_repeats(b"a=1&b=2&a=3&a=4&c=").unwrap();
        assert_eq!(repeated, ["a"]);
        assert_eq!((p.get("a"), p.get("b")), (None, Some("2")));
    }
}
