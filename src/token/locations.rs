//! The ordered locations a layer reads, with the length cap.

use std::sync::Arc;

use http::header::AUTHORIZATION;

use super::{
    AuthorizationHeader, BearerToken, DEFAULT_MAX_TOKEN_LEN, RequestHead, Scheme, TokenLocation, authorization,
};
use crate::reject::InvalidRequest;

/// The ordered token locations a layer reads, with the length cap.
#[derive(Clone)]
pub(crate) struct Locations {
    locations: Arc<[Arc<dyn TokenLocation>]>,
    max_len: usize,
    /// `Authorization: DPoP` is a credential too (DPoP allowed or required).
    dpop: bool,
    /// The RFC 6750 methods beside the header this crate's own locations read:
    /// (`query`, `body`), for RFC 9728 `bearer_methods_supported`.
    query: bool,
    body: bool,
}

impl Default for Locations {
    fn default() -> Self {
        Self {
            locations: Arc::new([Arc::new(AuthorizationHeader) as Arc<dyn TokenLocation>]),
            max_len: DEFAULT_MAX_TOKEN_LEN,
            dpop: false,
            query: false,
            body: false,
        }
    }
}

impl Locations {
    pub(crate) fn add<L: TokenLocation>(&mut self, location: L) {
        // Only the crate's own locations are RFC 6750's query and body methods: a custom
        // one reading another parameter is not what a client would send.
        let kind = std::any::TypeId::of::<L>();
        self.query |= kind == std::any::TypeId::of::<super::QueryParameter>();
        self.body |= kind == std::any::TypeId::of::<super::FormBodyParameter>();
        let mut v = self.locations.to_vec();
        v.push(Arc::new(location));
        self.locations = v.into();
    }

    /// RFC 9728 `bearer_methods_supported`: `header` (always read), then `body` and
    /// `query` when their locations are on.
    pub(crate) fn bearer_methods(&self) -> Vec<&'static str> {
        let mut methods = vec!["header"];
        if self.body {
            methods.push("body");
        }
        if self.query {
            methods.push("query");
        }
        methods
    }

    pub(crate) fn set_max_len(&mut self, max: usize) {
        self.max_len = max;
    }

    pub(crate) fn accept_dpop(&mut self, on: bool) {
        self.dpop = on;
    }

    /// Reads every location; more than one credential is a `400` (RFC 6750 §2).
    pub(crate) fn extract(&self, req: &RequestHead<'_>) -> Result<Option<BearerToken>, InvalidRequest> {
        // Cheap cap on the raw header before any location parses it.
        for v in req.headers().get_all(AUTHORIZATION) {
            if v.len() > self.max_len.saturating_add("Bearer ".len()) {
                return Err(InvalidRequest::TokenTooLong);
            }
        }
        let mut found = match self.dpop {
            true => authorization(req, Scheme::Dpop)?,
            false => None,
        };
        for location in self.locations.iter() {
            if let Some(token) = location.extract(req)? {
                if found.is_some() {
                    return Err(InvalidRequest::MultipleCredentials);
                }
                found = Some(token);
            }
        }
        match found {
            Some(t) if t.as_bytes().len() > self.max_len => Err(InvalidRequest::TokenTooLong),
            other => Ok(other),
        }
    }
}

#[cfg(test)]
mod tests {
    use http::{HeaderMap, HeaderValue, Method, Uri};

    use super::*;
    use crate::token::{Cookie, QueryParameter};

    fn head(headers: &[(&str, &str)], uri: &str) -> (Method, Uri, HeaderMap) {
        let mut map = HeaderMap::new();
        for (k, v) in headers {
            map.append(http::HeaderName::from_bytes(k.as_bytes()).unwrap(), HeaderValue::from_str(v).unwrap());
        }
        (Method::GET, uri.parse().unwrap(), map)
    }

    fn run(locations: &Locations, headers: &[(&str, &str)], uri: &str) -> Result<Option<String>, InvalidRequest> {
        let (m, u, h) = head(headers, uri);
        locations.extract(&RequestHead::new(&m, &u, &h)).map(|t| t.map(|t| t.as_str().to_owned()))
    }

    #[test]
    fn header_extraction() {
        let s = Locations::default();
        assert_eq!(run(&s, &[("authorization", "Bearer abc.def-_~+/==")], "/"), Ok(Some("abc.def-_~+/==".into())));
        assert_eq!(run(&s, &[("authorization", "Basic Zm9vOmJhcg==")], "/"), Ok(None));
        assert_eq!(run(&s, &[], "/"), Ok(None));
        assert_eq!(run(&s, &[("authorization", "Bearer")], "/"), Err(InvalidRequest::MalformedHeader));
        assert_eq!(run(&s, &[("authorization", "Bearer ")], "/"), Err(InvalidRequest::MalformedHeader));
        assert_eq!(run(&s, &[("authorization", "Bearer a b")], "/"), Err(InvalidRequest::MalformedHeader));
        assert_eq!(run(&s, &[("authorization", "Bearer a=b")], "/"), Err(InvalidRequest::MalformedHeader));
        assert_eq!(
            run(&s, &[("authorization", "Bearer a"), ("authorization", "Bearer b")], "/"),
            Err(InvalidRequest::MultipleCredentials)
        );
        // Query is off by default.
        assert_eq!(run(&s, &[], "/?access_token=abc"), Ok(None));
    }

    #[test]
    fn query_and_cookie_opt_in() {
        let mut s = Locations::default();
        s.add(QueryParameter);
        s.add(Cookie::new("at"));
        assert_eq!(s.bearer_methods(), ["header", "query"]);
        assert_eq!(run(&s, &[], "/?a=1&access_token=x%2Ey"), Ok(Some("x.y".into())));
        assert_eq!(run(&s, &[], "/?access_token=a&access_token=b"), Err(InvalidRequest::MultipleCredentials));
        assert_eq!(
            run(&s, &[("authorization", "Bearer a")], "/?access_token=a"),
            Err(InvalidRequest::MultipleCredentials)
        );
        assert_eq!(run(&s, &[("cookie", "x=1; at=tok")], "/"), Ok(Some("tok".into())));
    }
}
