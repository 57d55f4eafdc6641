//! The URL a proof must name (`htu`, RFC 9449 §4.3 check 11) and the public origins
//! it is compared with.
//!
//! Both sides are brought to one normal form (RFC 3986 §6.2.2 and §6.2.3) and compared
//! as strings. The parser is our own and strict: a URI is read exactly as RFC 3986
//! writes it, so nobody can name one URL to us and mean another (the WHATWG parser of
//! the `url` crate drops tabs and reads `\` as `/`).

use std::borrow::Cow;
use std::net::{Ipv4Addr, Ipv6Addr};

use crate::ConfigError;
use crate::token::RequestHead;

/// Longest `htu` (or public URL) read.
const MAX_URI_LEN: usize = 8 * 1024;

/// RFC 3986 §6.2.2–6.2.3 normal form of an absolute `http`/`https` URI, query and
/// fragment dropped; `None` when it is not one.
///
/// Scheme and host lowercased, percent-encodings of unreserved characters decoded and
/// the others' hex digits uppercased, dot segments removed, the default port and an
/// empty one dropped, an empty path written `/`. Refused: other schemes, relative
/// references, userinfo, an empty host, a bad percent-encoding, and any character
/// RFC 3986 does not allow (spaces, controls, non-ASCII, `\`, `"`, `{`, `|`, ...).
pub(crate) fn normalize(uri: &str) -> Option<String> {
    let parts = split(uri).ok()?;
    if !valid_query_and_fragment(parts.tail) {
        return None;
    }
    let mut out = String::with_capacity(uri.len());
    push_origin(&mut out, parts.scheme, parts.authority)?;
    let path = normalize_percent(parts.path, is_path_char, false)?;
    push_without_dot_segments(&mut out, segments(&path));
    Some(out)
}

/// Where the `htu` a request's proof must name comes from.
#[derive(Debug, Clone)]
pub(crate) enum Origins {
    /// Configured public URLs (`scheme://host[:port][/base]`), normalised.
    Configured(Vec<String>),
    /// The request's own `Host` (or HTTP/2 authority), with this scheme: development only.
    FromRequest(http::uri::Scheme),
}

impl Origins {
    /// Parses a configured public URL: `scheme://host[:port][/base]`, `https` except
    /// on loopback; stored normalised, without a trailing `/`.
    pub(crate) fn parse_public_url(url: &str) -> Result<String, ConfigError> {
        let refused = |why: &str| ConfigError::new(format!("DPoP public URL {:?}: {why}", without_userinfo(url)));
        let parts = split(url).map_err(refused)?;
        if !parts.tail.is_empty() {
            return Err(refused("a public URL has no query or fragment"));
        }
        let mut out = String::with_capacity(url.len());
        let origin_end =
            push_origin(&mut out, parts.scheme, parts.authority).ok_or_else(|| refused("not a valid host and port"))?;
        let path = normalize_percent(parts.path, is_path_char, false)
            .ok_or_else(|| refused("a percent-encoding in the path is not `%` and two hex digits"))?;
        push_without_dot_segments(&mut out, segments(&path));
        // The request path is appended to the base, which therefore ends without `/`.
        out.truncate(out.trim_end_matches('/').len());
        if parts.scheme == "http" && !is_loopback(out.get("http://".len()..origin_end).unwrap_or_default()) {
            return Err(refused("https is required (http only on localhost, 127.0.0.0/8 and [::1])"));
        }
        Ok(out)
    }

    /// Whether `htu` (as sent, not yet normalised) names this request.
    pub(crate) fn matches(&self, htu: &str, req: &RequestHead<'_>) -> bool {
        let Some(htu) = normalize(htu) else { return false };
        let path = req.uri().path();
        if !(path.is_empty() || path.starts_with('/')) {
            return false; // `*` (OPTIONS) and authority-form requests name no resource.
        }
        // The request's path as received: bytes that may not appear in a URI as they
        // are (which http accepts) stand for their percent-encoding.
        let Some(path) = normalize_percent(path, is_path_char, true) else { return false };
        let mut expected = String::with_capacity(htu.len());
        match self {
            Self::Configured(urls) => urls.iter().any(|url| {
                let (origin, base) = url.split_at(origin_len(url));
                if !htu.starts_with(origin) {
                    return false;
                }
                expected.clear();
                expected.push_str(origin);
                expected.push_str(base);
                // The request's own dot segments stop at the base: a path never climbs
                // into another service behind the same gateway.
                push_without_dot_segments(&mut expected, segments(&path));
                expected == htu
            }),
            Self::FromRequest(scheme) => {
                // HTTP/2's `:authority`, or an absolute-form target, takes precedence
                // over `Host` (RFC 9112 §3.2.2).
                let authority = match req.uri().authority() {
                    Some(authority) => authority.as_str(),
                    None => match req.headers().get(http::header::HOST).map(|h| h.to_str()) {
                        Some(Ok(host)) => host,
                        _ => return false,
                    },
                };
                let scheme = if scheme == &http::uri::Scheme::HTTPS {
                    "https"
                } else if scheme == &http::uri::Scheme::HTTP {
                    "http"
                } else {
                    return false;
                };
                if push_origin(&mut expected, scheme, authority).is_none() {
                    return false;
                }
                push_without_dot_segments(&mut expected, segments(&path));
                expected == htu
            }
        }
    }
}

/// An absolute URI cut into its parts, not yet normalised.
struct Parts<'a> {
    /// `http` or `https`, lowercase.
    scheme: &'static str,
    authority: &'a str,
    /// Empty or starting with `/`.
    path: &'a str,
    /// `?query#fragment`, either, or empty.
    tail: &'a str,
}

fn split(uri: &str) -> Result<Parts<'_>, &'static str> {
    if uri.len() > MAX_URI_LEN {
        return Err("longer than 8 KiB");
    }
    if !uri.bytes().all(is_uri_char) {
        return Err("a character URIs do not allow (space, control, non-ASCII, `\\`, ...)");
    }
    let Some((scheme, rest)) = uri.split_once(':') else { return Err("not an absolute URL") };
    let scheme = if scheme.eq_ignore_ascii_case("https") {
        "https"
    } else if scheme.eq_ignore_ascii_case("http") {
        "http"
    } else {
        return Err("the scheme is not http or https");
    };
    let Some(rest) = rest.strip_prefix("//") else { return Err("no `//host`") };
    let (authority, rest) = rest.split_at(rest.find(['/', '?', '#']).unwrap_or(rest.len()));
    let (path, tail) = rest.split_at(rest.find(['?', '#']).unwrap_or(rest.len()));
    if authority.contains('@') {
        return Err("userinfo (`user@`) is not allowed");
    }
    Ok(Parts { scheme, authority, path, tail })
}

/// Appends `scheme://host[:port]` normalised; the length of what it wrote, `None`
/// (and maybe a part written) when the authority is not a host and port.
fn push_origin(out: &mut String, scheme: &str, authority: &str) -> Option<usize> {
    let start = out.len();
    out.push_str(scheme);
    out.push_str("://");
    let port = if let Some(literal) = authority.strip_prefix('[') {
        // IP-literal: IPv6 only (no IPvFuture, no zone), kept as written, lowercased.
        let (address, after) = literal.split_once(']')?;
        address.parse::<Ipv6Addr>().ok()?;
        out.push('[');
        out.extend(address.chars().map(|c| c.to_ascii_lowercase()));
        out.push(']');
        match after {
            "" => "",
            _ => after.strip_prefix(':')?,
        }
    } else {
        let (host, port) = authority.split_once(':').unwrap_or((authority, ""));
        if host.is_empty() {
            return None; // RFC 9110 §4.2.1: an http URI with an empty host is invalid.
        }
        let host = normalize_percent(host, is_host_char, false)?;
        // Lowercase, but for the (uppercase) hex digits of percent-encodings.
        let mut hex_digits_left = 0;
        out.extend(host.chars().map(|c| match c {
            '%' => {
                hex_digits_left = 2;
                c
            }
            _ if hex_digits_left > 0 => {
                hex_digits_left -= 1;
                c
            }
            _ => c.to_ascii_lowercase(),
        }));
        port
    };
    if !port.is_empty() {
        if !port.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let port: u16 = port.parse().ok()?;
        let default = if scheme == "https" { 443 } else { 80 };
        if port != default {
            out.push(':');
            out.push_str(&port.to_string());
        }
    }
    Some(out.len() - start)
}

/// Where the path of a normalised URL starts.
fn origin_len(url: &str) -> usize {
    let host_start = url.find("://").map_or(0, |i| i + 3);
    url.get(host_start..).and_then(|rest| rest.find('/')).map_or(url.len(), |i| host_start + i)
}

/// The segments of a path (what follows each `/`); none for an empty path.
fn segments(path: &str) -> impl Iterator<Item = &str> {
    path.split('/').skip(1)
}

/// Appends the path made of `segments` with `.` and `..` removed (RFC 3986 §5.2.4),
/// `/` when nothing is left.
fn push_without_dot_segments<'a>(out: &mut String, segments: impl Iterator<Item = &'a str>) {
    let start = out.len();
    let mut segments = segments.peekable();
    while let Some(segment) = segments.next() {
        let last = segments.peek().is_none();
        match segment {
            "." => {}
            ".." => {
                let cut = out.get(start..).and_then(|path| path.rfind('/')).map_or(start, |i| start + i);
                out.truncate(cut);
            }
            _ => {
                out.push('/');
                out.push_str(segment);
                continue;
            }
        }
        // A dot segment at the end leaves a directory: `/a/b/..` is `/a/`.
        if last {
            out.push('/');
        }
    }
    if out.len() == start {
        out.push('/');
    }
}

/// `part` with percent-encodings normalised (RFC 3986 §6.2.2.2): unreserved
/// characters decoded, the others' hex digits uppercased. Bytes outside `allowed`
/// are refused, or percent-encoded when `encode_others`; a `%` not followed by two
/// hex digits is refused.
fn normalize_percent(part: &str, allowed: fn(u8) -> bool, encode_others: bool) -> Option<Cow<'_, str>> {
    if !part.contains('%') && part.bytes().all(allowed) {
        return Some(Cow::Borrowed(part));
    }
    let mut out = String::with_capacity(part.len());
    let mut bytes = part.bytes();
    while let Some(b) = bytes.next() {
        if b == b'%' {
            let (hi, lo) = (bytes.next().and_then(hex_value)?, bytes.next().and_then(hex_value)?);
            let decoded = hi << 4 | lo;
            if is_unreserved(decoded) {
                out.push(char::from(decoded));
            } else {
                push_percent_encoded(&mut out, decoded);
            }
        } else if allowed(b) {
            out.push(char::from(b));
        } else if encode_others {
            push_percent_encoded(&mut out, b);
        } else {
            return None;
        }
    }
    Some(Cow::Owned(out))
}

fn push_percent_encoded(out: &mut String, byte: u8) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    out.push('%');
    for nibble in [byte >> 4, byte & 0xf] {
        out.push(HEX.get(usize::from(nibble)).map_or('0', |&h| char::from(h)));
    }
}

fn hex_value(b: u8) -> Option<u8> {
    char::from(b).to_digit(16).and_then(|d| u8::try_from(d).ok())
}

/// The query and fragment are dropped, but must still be well formed.
fn valid_query_and_fragment(tail: &str) -> bool {
    let (query, fragment) = match tail.split_once('#') {
        Some((query, fragment)) => (query, Some(fragment)),
        None => (tail, None),
    };
    let valid = |part: &str| normalize_percent(part, |b| is_path_char(b) || b == b'?', false).is_some();
    valid(query) && fragment.is_none_or(valid)
}

/// Loopback hosts (`host[:port]`, normalised), where plain http is allowed.
fn is_loopback(host_and_port: &str) -> bool {
    let host = match host_and_port.find(']') {
        Some(end) => host_and_port.get(..=end).unwrap_or_default(),
        None => host_and_port.split(':').next().unwrap_or_default(),
    };
    if host == "localhost" {
        return true;
    }
    if let Some(literal) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        return literal.parse::<Ipv6Addr>().is_ok_and(|ip| ip.is_loopback());
    }
    host.parse::<Ipv4Addr>().is_ok_and(|ip| ip.is_loopback())
}

/// `url` with any userinfo hidden, for error messages (it may hold a password).
fn without_userinfo(url: &str) -> Cow<'_, str> {
    let Some(host_start) = url.find("://").map(|i| i + 3) else { return Cow::Borrowed(url) };
    let rest = url.get(host_start..).unwrap_or_default();
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    match rest.get(..authority_end).and_then(|authority| authority.rfind('@')) {
        Some(at) => Cow::Owned(format!(
            "{}[userinfo]{}",
            url.get(..host_start).unwrap_or_default(),
            rest.get(at..).unwrap_or_default()
        )),
        None => Cow::Borrowed(url),
    }
}

/// RFC 3986 §2.3.
fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

/// RFC 3986 §2.2.
fn is_sub_delim(b: u8) -> bool {
    matches!(b, b'!' | b'$' | b'&' | b'\'' | b'(' | b')' | b'*' | b'+' | b',' | b';' | b'=')
}

/// A character RFC 3986 allows anywhere in a URI.
fn is_uri_char(b: u8) -> bool {
    is_unreserved(b) || is_sub_delim(b) || matches!(b, b':' | b'/' | b'?' | b'#' | b'[' | b']' | b'@' | b'%')
}

/// `reg-name` without percent-encodings.
fn is_host_char(b: u8) -> bool {
    is_unreserved(b) || is_sub_delim(b)
}

/// `pchar` without percent-encodings, and `/`.
fn is_path_char(b: u8) -> bool {
    is_unreserved(b) || is_sub_delim(b) || matches!(b, b':' | b'@' | b'/')
}

#[cfg(test)]
mod tests {
    use http::{HeaderMap, HeaderValue, Method, Uri};
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn rfc_3986_equivalent_uris_normalise_alike() {
        let table = [
            // §6.2.2.1: scheme and host are case-insensitive.
            ("HTTP://www.Example.com/", "http://www.example.com/"),
            ("hTtPs://WWW.EXAMPLE.COM/Path", "https://www.example.com/Path"),
            // §6.2.2.2: unreserved characters decoded, other encodings uppercased.
            ("http://example.com/%7euser", "http://example.com/~user"),
            ("http://example.com/%7Euser", "http://example.com/~user"),
            ("http://example.com/%41%62%2d%5F%2E", "http://example.com/Ab-_."),
            ("http://example.com/a%2fb%3f", "http://example.com/a%2Fb%3F"),
            ("http://example.com/%c3%a9", "http://example.com/%C3%A9"),
            ("http://Ex%41mple.com/", "http://example.com/"),
            ("http://ex%2cample.com/", "http://ex%2Cample.com/"),
            // §6.2.2.3: dot segments, also percent-encoded ones.
            ("http://example.com/a/./b/../c", "http://example.com/a/c"),
            ("http://example.com/a/b/..", "http://example.com/a/"),
            ("http://example.com/a/b/.", "http://example.com/a/b/"),
            ("http://example.com/../../x", "http://example.com/x"),
            ("http://example.com/%2e%2E/x/%2E", "http://example.com/x/"),
            ("http://example.com/a//../b", "http://example.com/a/b"),
            ("http://example.com/.", "http://example.com/"),
            // §6.2.3: default and empty ports, empty path.
            ("http://example.com:80/", "http://example.com/"),
            ("https://x:443", "https://x/"),
            ("http://example.com", "http://example.com/"),
            ("http://example.com:/", "http://example.com/"),
            ("http://example.com:0080/", "http://example.com/"),
            ("https://example.com:80/", "https://example.com:80/"),
            ("http://example.com:443/", "http://example.com:443/"),
            ("http://example.com:8080", "http://example.com:8080/"),
            // IPv6 literals, kept as written but lowercased.
            ("http://[FE80::1]:8080/x", "http://[fe80::1]:8080/x"),
            ("http://[::1]:80", "http://[::1]/"),
            ("https://[::FFFF:127.0.0.1]/", "https://[::ffff:127.0.0.1]/"),
            // RFC 9449 §4.3: query and fragment are ignored.
            ("http://example.com/p?q=1#f", "http://example.com/p"),
            ("http://example.com?x", "http://example.com/"),
            ("http://example.com#frag", "http://example.com/"),
            ("http://example.com/p?a/b?c=%41#x/?y", "http://example.com/p"),
            // Every character a path may hold as it is.
            ("http://example.com/!$&'()*+,;=:@-._~", "http://example.com/!$&'()*+,;=:@-._~"),
        ];
        for (uri, expected) in table {
            assert_eq!(normalize(uri).as_deref(), Some(expected), "{uri}");
            assert_eq!(normalize(expected).as_deref(), Some(expected), "{expected} is its own normal form");
        }
    }

    #[test]
    fn anything_but_a_plain_absolute_http_uri_is_refused() {
        let long = format!("https://example.com/{}", "a".repeat(MAX_URI_LEN));
        let refused = [
            "",
            "/relative/path",
            "example.com/x",
            "//example.com/",
            "ftp://example.com/",
            "ws://example.com/",
            "http:example.com",
            "http:/example.com",
            "https://user@example.com/",
            "https://user:password@example.com/",
            "https://@example.com/",
            "https://exa mple.com/",
            "https://example.com/a b",
            "https://example.com/a\tb",
            "https://example.com/a\nb",
            "https://example.com/a\0b",
            "https://example.com\\@evil.example/",
            "https://example.com/a\\b",
            "https://exämple.com/",
            "https://example.com/é",
            "https://example.com/\u{7f}",
            "https://example.com/a\"b",
            "https://example.com/{a}",
            "https://example.com/a|b",
            "https://example.com/a^b",
            "https://example.com/a`b",
            "https://example.com/<a>",
            "https://example.com/%zz",
            "https://example.com/%4",
            "https://example.com/%",
            "https://example.com/%%41",
            "https://ex%zzample.com/",
            "https:///path",
            "https://:443/",
            "https://example.com:abc/",
            "https://example.com:+80/",
            "https://example.com:65536/",
            "https://example.com:80:80/",
            "https://[::1/",
            "https://[v1.x]/",
            "https://[fe80::1%25eth0]/",
            "https://[::1]x/",
            "https://[example.com]/",
            "https://exa[mple.com/",
            "https://example.com/a[0]",
            "https://example.com/a#b#c",
            "https://example.com/?a[b]",
            "https://example.com/?%zz",
            "https://example.com/# x",
            &long,
        ];
        for uri in refused {
            assert_eq!(normalize(uri), None, "{uri:?}");
        }
        assert!(normalize(&format!("https://example.com/{}", "a".repeat(MAX_URI_LEN - 21))).is_some());
    }

    #[test]
    fn public_urls_are_stored_normalised_without_a_trailing_slash() {
        let table = [
            ("https://api.example.com", "https://api.example.com"),
            ("https://API.Example.com/", "https://api.example.com"),
            ("https://api.example.com:443/base/", "https://api.example.com/base"),
            ("https://api.example.com:8443/a/./b/../%7ec//", "https://api.example.com:8443/a/~c"),
            ("http://localhost:8080", "http://localhost:8080"),
            ("http://LOCALHOST/", "http://localhost"),
            ("http://127.0.0.2:3000/x", "http://127.0.0.2:3000/x"),
            ("http://[::1]:8080", "http://[::1]:8080"),
        ];
        for (url, expected) in table {
            assert_eq!(Origins::parse_public_url(url).as_deref(), Ok(expected), "{url}");
        }
    }

    #[test]
    fn bad_public_urls_are_refused_with_the_reason() {
        let table = [
            ("http://api.example.com", "https is required"),
            ("http://localhost.example.com", "https is required"),
            ("http://128.0.0.1", "https is required"),
            ("http://[::2]", "https is required"),
            ("https://api.example.com/?q=1", "no query or fragment"),
            ("https://api.example.com/#top", "no query or fragment"),
            ("ftp://api.example.com", "not http or https"),
            ("api.example.com", "not an absolute URL"),
            ("urn:x:y", "not http or https"),
            ("/base", "not an absolute URL"),
            ("https://api.example.com/a b", "a character URIs do not allow"),
            ("https://api.example.com:99999", "not a valid host and port"),
            ("https://api.example.com/%zz", "percent-encoding"),
        ];
        for (url, why) in table {
            let err = Origins::parse_public_url(url).unwrap_err().to_string();
            assert!(err.contains(why) && err.contains(url), "{url}: {err}");
        }
        // A password in the URL is not repeated in the message.
        let err = Origins::parse_public_url("https://svc:hunter2@api.example.com/x").unwrap_err().to_string();
        assert!(err.contains("userinfo") && !err.contains("hunter2") && !err.contains("svc"), "{err}");
        assert!(err.contains("https://[userinfo]@api.example.com/x"), "{err}");
    }

    fn head_matches(origins: &Origins, htu: &str, uri: &str, host: Option<&str>) -> bool {
        let uri: Uri = uri.parse().unwrap();
        let mut headers = HeaderMap::new();
        if let Some(host) = host {
            headers.insert(http::header::HOST, HeaderValue::from_str(host).unwrap());
        }
        origins.matches(htu, &RequestHead::new(&Method::GET, &uri, &headers))
    }

    fn configured(urls: &[&str]) -> Origins {
        Origins::Configured(urls.iter().map(|u| Origins::parse_public_url(u).unwrap()).collect())
    }

    #[test]
    fn htu_is_the_public_url_plus_the_request_path() {
        let api = configured(&["https://api.example.com/base"]);
        let host = Some("internal:8080");
        assert!(head_matches(&api, "https://api.example.com/base/items/1", "/items/1", host));
        assert!(head_matches(&api, "HTTPS://API.example.com:443/base/items/%7e1?x=1#f", "/items/~1", host));
        assert!(head_matches(&api, "https://api.example.com/base/items/~1", "/items/%7E1?page=2", host));
        assert!(head_matches(&api, "https://api.example.com/base/a/b", "/a/./b", host), "dot segments in the request");
        assert!(head_matches(&api, "https://api.example.com/base/a%2Fb", "/a%2fb", host), "percent case");
        // Bytes http accepts in a path but URIs do not are compared as their encoding.
        assert!(head_matches(&api, "https://api.example.com/base/a%7Cb%22", "/a|b\"", host));
        assert!(!head_matches(&api, "https://api.example.com/base/a|b", "/a|b", host), "a raw `|` in htu");

        assert!(!head_matches(&api, "https://api.example.com/items/1", "/items/1", host), "without the base");
        assert!(!head_matches(&api, "https://api.example.com/base/items/2", "/items/1", host), "another path");
        assert!(!head_matches(&api, "https://api.example.com/base/items/1/", "/items/1", host));
        assert!(!head_matches(&api, "https://api.example.com/base/items/%2F1", "/items//1", host));
        assert!(!head_matches(&api, "http://api.example.com/base/items/1", "/items/1", host), "another scheme");
        assert!(!head_matches(&api, "https://api.example.com:8443/base/items/1", "/items/1", host), "another port");
        assert!(!head_matches(&api, "https://other.example.com/base/items/1", "/items/1", host), "another host");
        assert!(!head_matches(&api, "https://internal:8080/items/1", "/items/1", host), "the Host is not used");
        assert!(!head_matches(&api, "https://api.example.com/base/%zz", "/%zz", host));
        assert!(!head_matches(&api, "not a url", "/items/1", host));
        assert!(!head_matches(&api, "https://api.example.com/base/*", "*", host), "OPTIONS *");

        // A dot segment in the request stops at the base (another service may live
        // beside it on the same gateway).
        assert!(!head_matches(&api, "https://api.example.com/x", "/../x", host));
        assert!(!head_matches(&api, "https://api.example.com/x", "/%2e%2e/x", host));
        assert!(head_matches(&api, "https://api.example.com/base/x", "/../x", host));

        let no_base = configured(&["https://api.example.com/"]);
        assert!(head_matches(&no_base, "https://api.example.com/items", "/items", None));
        assert!(head_matches(&no_base, "https://api.example.com", "/", None));
    }

    #[test]
    fn any_configured_public_url_may_be_named() {
        let both = configured(&["https://api.example.com", "https://api.example.org/v1"]);
        assert!(head_matches(&both, "https://api.example.com/x", "/x", None));
        assert!(head_matches(&both, "https://api.example.org/v1/x", "/x", None));
        assert!(!head_matches(&both, "https://api.example.org/x", "/x", None));
        assert!(!head_matches(&configured(&[]), "https://api.example.com/x", "/x", None));
    }

    #[test]
    fn from_request_takes_the_host_header_or_the_http2_authority() {
        let http = Origins::FromRequest(http::uri::Scheme::HTTP);
        assert!(head_matches(&http, "http://localhost:8080/x", "/x", Some("LocalHost:8080")));
        assert!(head_matches(&http, "http://localhost/x", "/x", Some("localhost:80")));
        assert!(!head_matches(&http, "http://localhost/x", "/x", Some("localhost:8080")));
        assert!(!head_matches(&http, "https://localhost:8080/x", "/x", Some("localhost:8080")), "scheme");
        assert!(!head_matches(&http, "http://localhost:8080/x", "/x", None), "no Host");
        assert!(!head_matches(&http, "http://a@localhost/x", "/x", Some("a@localhost")));

        // HTTP/2 (and an absolute-form target): the URI's authority, not `Host`.
        let https = Origins::FromRequest(http::uri::Scheme::HTTPS);
        let uri = "https://api.example.com/x/%7e";
        assert!(head_matches(&https, "https://api.example.com/x/~", uri, Some("evil.example")));
        assert!(head_matches(&https, "https://API.EXAMPLE.COM:443/x/~", uri, None));
        assert!(!head_matches(&https, "https://evil.example/x/~", uri, Some("evil.example")));
    }

    /// URIs made of the pieces normalisation works on, malformed ones included.
    fn uris() -> impl Strategy<Value = String> {
        let scheme = prop::sample::select(vec!["http", "HTTP", "https", "HtTpS", "ftp", ""]);
        let host = prop::sample::select(vec![
            "example.com",
            "EXAMPLE.com",
            "%65xample.com",
            "ex%2Cample",
            "[::1]",
            "[FE80::A]",
            "127.0.0.1",
            "",
            "a b",
        ]);
        let port = prop::sample::select(vec!["", ":", ":80", ":443", ":8080", ":0080", ":x", ":99999"]);
        let segment = prop::sample::select(vec![
            "",
            ".",
            "..",
            "%2e",
            "%2E%2e",
            "a",
            "B",
            "%7e",
            "%7E",
            "%41",
            "%2f",
            "%2F",
            "~",
            "!$&'()*+,;=:@",
            "%c3%a9",
            "%zz",
            "%",
            "[",
            "\\",
        ]);
        let tail = prop::sample::select(vec!["", "?q=1", "#f", "?a#b", "?", "#", "?%zz", "#a#b"]);
        (scheme, host, port, prop::collection::vec(segment, 0..6), tail).prop_map(|(s, h, p, segments, t)| {
            let path: String = segments.iter().map(|seg| format!("/{seg}")).collect();
            format!("{s}://{h}{p}{path}{t}")
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 2000, .. ProptestConfig::default() })]

        #[test]
        fn normalize_is_idempotent(uri in uris()) {
            if let Some(once) = normalize(&uri) {
                prop_assert_eq!(normalize(&once), Some(once.clone()), "{}", uri);
                prop_assert!(once.starts_with("http://") || once.starts_with("https://"));
            }
        }

        #[test]
        fn normalize_is_idempotent_on_any_uri_characters(
            uri in "[hH][tT]{2}[pP][sS]?://[a-zA-Z0-9%.:\\[\\]@/?#~!$&'()*+,;=_-]{0,40}",
        ) {
            if let Some(once) = normalize(&uri) {
                prop_assert_eq!(normalize(&once), Some(once.clone()), "{}", uri);
            }
        }

        #[test]
        fn normalize_never_panics(uri in any::<String>()) {
            let _ = normalize(&uri);
        }
    }
}
