//! The login and consent page: plain HTML, every value escaped, sent with the
//! crate's page headers (never framed, never cached).

use axum::http::StatusCode;
use axum::response::Response;
use tower_bearer::issue::server::{AuthorizationRequest, escape_html, secure_page};

/// The one form: the request's hidden fields, `login`, `password`, and the two
/// `consent` buttons. `problem` (a wrong password) is shown above it, with `401`
/// (the caller may set another status: `429` when throttled).
pub(crate) fn consent(request: &AuthorizationRequest, problem: Option<&str>) -> Response {
    let alert = problem.map(|p| format!("<p role=\"alert\">{}</p>\n", escape_html(p))).unwrap_or_default();
    let html = format!(
        "<!doctype html>\n<html lang=\"en\">\n<head><meta charset=\"utf-8\"><title>Sign in</title></head>\n<body>\n\
         <h1>Sign in</h1>\n<p><strong>{client}</strong> asks for: <code>{scopes}</code></p>\n{alert}\
         <form method=\"post\" action=\"/authorize\">\n{hidden}\
         <label>Login <input name=\"login\" autocomplete=\"username\"></label>\n\
         <label>Password <input name=\"password\" type=\"password\" autocomplete=\"current-password\"></label>\n\
         <button type=\"submit\" name=\"consent\" value=\"allow\">Allow</button>\n\
         <button type=\"submit\" name=\"consent\" value=\"deny\">Deny</button>\n\
         </form>\n</body>\n</html>\n",
        client = escape_html(request.client_id()),
        scopes = escape_html(&request.scopes().join(" ")),
        hidden = request.hidden_inputs_html(),
    );
    let mut response = secure_page(html);
    if problem.is_some() {
        *response.status_mut() = StatusCode::UNAUTHORIZED;
    }
    response
}
