//! The application's login and consent page, sent safely: not frameable
//! (clickjacking, RFC 9700 §4.16), not cacheable, no `Referer` leaking the request;
//! and the hidden fields that carry the request to the consent `POST`, escaped.

use std::fmt::Write as _;

use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::request::AuthorizationRequest;
use crate::issue::server::params::Params;

/// The application's page may load its own styles and scripts; only framing is
/// forbidden.
const APP_PAGE_POLICY: &str = "frame-ancestors 'none'";

/// The server's own error page loads nothing.
pub(super) const ERROR_PAGE_POLICY: &str = "default-src 'none'; frame-ancestors 'none'";

/// The headers of a login or consent page: `X-Frame-Options: DENY` and
/// `Content-Security-Policy: frame-ancestors 'none'` (no other site may frame it and
/// trick the user into clicking "allow"), `Cache-Control: no-store`,
/// `Referrer-Policy: no-referrer` (the page's URL holds the request), `nosniff`.
/// [`secure_page`] sends a page with them.
pub fn page_headers() -> [(HeaderName, HeaderValue); 5] {
    headers(APP_PAGE_POLICY)
}

fn headers(policy: &'static str) -> [(HeaderName, HeaderValue); 5] {
    [
        (header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY")),
        (header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(policy)),
        (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        (header::REFERRER_POLICY, HeaderValue::from_static("no-referrer")),
        (header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")),
    ]
}

/// `200` with the HTML page `html` (`text/html; charset=utf-8`) and
/// [`page_headers`].
///
/// ```
/// use tower_bearer::issue::server::{AuthorizationRequest, escape_html, secure_page};
///
/// fn consent_page(request: &AuthorizationRequest) -> axum::response::Response {
///     secure_page(format!(
///         "<form method=\"post\" action=\"/authorize\">{}<p>{} asks for: {}</p>\
///          <input name=\"login\"><input name=\"password\" type=\"password\">\
///          <button name=\"consent\" value=\"allow\">Allow</button>\
///          <button name=\"consent\" value=\"deny\">Deny</button></form>",
///         request.hidden_inputs_html(),
///         escape_html(request.client_id()),
///         escape_html(&request.scopes().join(" ")),
///     ))
/// }
/// # let _ = consent_page;
/// ```
pub fn secure_page(html: impl Into<String>) -> Response {
    page_with_policy(html.into(), APP_PAGE_POLICY)
}

pub(super) fn page_with_policy(html: String, policy: &'static str) -> Response {
    let mut response = (StatusCode::OK, headers(policy), html).into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
    response
}

/// `text` safe inside HTML text and quoted attribute values: `&`, `<`, `>`, `"` and
/// `'` escaped.
pub fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            other => out.push(other),
        }
    }
    out
}

/// The value of the form field `name` in `body` (`application/x-www-form-urlencoded`):
/// `None` if absent, empty, repeated, or the body is not a form. For the
/// application's own fields of the consent `POST` (login, password, the button),
/// read from the same body it passes to
/// [`validate_authorization_request`](crate::issue::server::AuthorizationServer::validate_authorization_request).
pub fn form_value(body: &[u8], name: &str) -> Option<String> {
    let (params, _repeated) = Params::parse_keeping_repeats(body).ok()?;
    params.get(name).map(str::to_owned)
}

impl AuthorizationRequest {
    /// [`hidden_fields`](Self::hidden_fields) as `<input type="hidden">` elements,
    /// names and values escaped, to put inside the consent form.
    pub fn hidden_inputs_html(&self) -> String {
        let mut html = String::new();
        for (name, value) in self.hidden_fields() {
            // Writing to a String cannot fail.
            let _ = writeln!(
                html,
                "<input type=\"hidden\" name=\"{}\" value=\"{}\">",
                escape_html(name),
                escape_html(&value)
            );
        }
        html
    }
}

#[cfg(test)]
mod tests {
    use super::{escape_html, form_value};

    #[test]
    fn escapes_markup_and_quotes() {
        assert_eq!(
            escape_html(r#"<a href="x" onclick='y'>&</a>"#),
            "&lt;a href=&quot;x&quot; onclick=&#39;y&#39;&gt;&amp;&lt;/a&gt;"
        );
    }

    #[test]
    fn form_values_are_unique_and_present() {
        assert_eq!(form_value(b"login=alice&password=a%26b", "password").as_deref(), Some("a&b"));
        assert_eq!(form_value(b"consent=allow&consent=deny", "consent"), None);
        assert_eq!(form_value(b"login=", "login"), None);
    }
}
