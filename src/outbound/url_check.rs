//! Which URLs we talk to: HTTPS, except loopback or an explicit opt-out; a refusal
//! names what the URL is for and how to opt out.

use std::net::IpAddr;

use url::Url;

/// What a URL is for, and how its builder allows plain HTTP: refusals name both.
#[derive(Clone, Copy, Debug)]
pub(crate) struct UrlUse {
    /// "JWKS URL", "token endpoint", "introspection endpoint".
    what: &'static str,
    /// Its member in a discovery document.
    field: &'static str,
    /// The call that allows plain HTTP on a closed network, for a configured URL and
    /// for one reached through discovery.
    opt_out: [&'static str; 2],
    via: Via,
}

/// Where the checked URL came from.
#[derive(Clone, Copy, Debug)]
enum Via {
    /// Configured as the endpoint itself.
    Configured,
    /// The issuer whose discovery document names the endpoint.
    Issuer,
    /// Found in the discovery document.
    Discovered,
}

impl UrlUse {
    /// An endpoint called `what`, the member `field` of a discovery document, whose
    /// builder opts out of HTTPS with `opt_out` (configured URL, discovered URL).
    pub(crate) const fn new(what: &'static str, field: &'static str, opt_out: [&'static str; 2]) -> Self {
        Self { what, field, opt_out, via: Via::Configured }
    }

    /// The issuer URL whose discovery document locates this endpoint.
    pub(crate) const fn issuer(self) -> Self {
        Self { via: Via::Issuer, ..self }
    }

    /// This endpoint as found in a discovery document.
    pub(crate) const fn discovered(self) -> Self {
        Self { via: Via::Discovered, ..self }
    }

    /// "token endpoint".
    pub(crate) const fn what(&self) -> &'static str {
        self.what
    }

    /// Its member in a discovery document, e.g. `token_endpoint`.
    pub(crate) const fn field(&self) -> &'static str {
        self.field
    }

    fn opt_out(&self) -> &'static str {
        let [configured, discovered] = self.opt_out;
        if matches!(self.via, Via::Configured) { configured } else { discovered }
    }

    /// "the token endpoint https://…", "the issuer https://… (discovery of its JWKS URL)".
    fn describe(&self, url: &Url) -> String {
        let shown = shown(url);
        match self.via {
            Via::Configured => format!("the {} {shown}", self.what),
            Via::Issuer => format!("the issuer {shown} (discovery of its {})", self.what),
            Via::Discovered => format!("the {} {shown} ({} of the discovery document)", self.what, self.field),
        }
    }
}

/// `url` as messages, logs and `Debug` show it: without a password.
pub(crate) fn shown(url: &Url) -> Url {
    let mut shown = url.clone();
    let _ = shown.set_password(None);
    shown
}

/// Only `https`, except for loopback hosts (or when the user opted out). A scheme that
/// is neither is a typo (`htps://`) and is named as such.
pub(crate) fn check_url(url: &Url, allow_http: bool, used_for: UrlUse) -> Result<(), String> {
    match url.scheme() {
        "https" => Ok(()),
        "http" if allow_http || is_loopback(url) => Ok(()),
        "http" => Err(format!(
            "refusing plain http:// for {}: HTTPS is required except on loopback (localhost, 127.0.0.1, ::1); \
             on a closed network (e.g. docker-compose http://keycloak:8080) opt out with {}",
            used_for.describe(url),
            used_for.opt_out()
        )),
        other => Err(format!(
            "unsupported scheme {other:?} in {}: use https:// (http:// only on loopback)",
            used_for.describe(url)
        )),
    }
}

/// `localhost`, 127.0.0.0/8 or `::1`. A non-special scheme (`redis://`) keeps an IPv4
/// host as a domain, so a domain that reads as an address counts as that address.
pub(crate) fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(d)) => {
            d.eq_ignore_ascii_case("localhost") || d.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
        }
        Some(url::Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
        Some(url::Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEYS: UrlUse = UrlUse::new("JWKS URL", "jwks_uri", ["a", "b"]);

    #[test]
    fn https_except_loopback() {
        for ok in ["https://idp.example.com/jwks", "http://127.0.0.1:8080/j", "http://localhost/j", "http://[::1]/j"] {
            assert!(check_url(&Url::parse(ok).unwrap(), false, KEYS).is_ok(), "{ok}");
        }
        for bad in ["http://idp.example.com/jwks", "http://10.0.0.1/j", "file:///etc/passwd", "ftp://x/y"] {
            assert!(check_url(&Url::parse(bad).unwrap(), false, KEYS).is_err(), "{bad}");
        }
        assert!(check_url(&Url::parse("http://idp.example.com/jwks").unwrap(), true, KEYS).is_ok());
    }
}
