//! Opening a Redis connection for the Redis stores: encrypted except on loopback
//! (the rule the HTTP calls follow), and, where the store bounds every call, within
//! a deadline.

use std::time::Duration;

use redis::{ErrorKind, RedisError};
use url::Url;

/// What a refused URL's error says besides its reason: how to comply, and how to
/// opt out on a closed network.
const HOW: &str = "use rediss:// (TLS: enable the redis crate's `tokio-rustls-comp` or \
    `tokio-native-tls-comp` feature in your Cargo.toml, tower-bearer does not) or a unix socket \
    (redis+unix://); on a closed network, connect yourself (redis::Client::open, \
    redis::aio::ConnectionManager::new) and pass the connection to the store's `from_connection`";

/// A client for `url`, if its traffic cannot cross the network unencrypted: plain
/// `redis://` (and `valkey://`) only to a loopback host (`localhost`, 127.0.0.0/8,
/// `::1`), `rediss://` with its certificate checked (no `#insecure` but on
/// loopback), unix sockets. The stores carry tokens, grants and verification keys.
pub(crate) fn open_client(url: &str) -> Result<redis::Client, RedisError> {
    check_url(url)?;
    redis::Client::open(url)
}

/// A connection to `url` (see [`open_client`]), made within `limit`: a Redis that
/// accepts the TCP connection but never answers must not hang startup. Shared by the
/// Redis stores that bound every call (`keys::RedisKeySetStore`,
/// `issue::server::RedisGrantStore`).
pub(crate) async fn connect_within(url: &str, limit: Duration) -> Result<redis::aio::ConnectionManager, RedisError> {
    let client = open_client(url)?;
    match tokio::time::timeout(limit, redis::aio::ConnectionManager::new(client)).await {
        Ok(connected) => connected,
        Err(_) => {
            let slow =
                std::io::Error::new(std::io::ErrorKind::TimedOut, format!("redis did not answer within {limit:?}"));
            Err(RedisError::from(slow))
        }
    }
}

/// [`open_client`]'s rule. Messages name the host, never the URL (it may hold a password).
fn check_url(url: &str) -> Result<(), RedisError> {
    let refused = |detail: String| RedisError::from((ErrorKind::InvalidClientConfig, "refusing the Redis URL", detail));
    let Ok(parsed) = Url::parse(url) else {
        return Err(refused(format!("it is not a URL; {HOW}")));
    };
    let host = || parsed.host_str().unwrap_or_default().to_owned();
    let loopback = crate::outbound::is_loopback(&parsed);
    match parsed.scheme() {
        "unix" | "redis+unix" | "valkey+unix" => Ok(()),
        "rediss" | "valkeys" if parsed.fragment() == Some("insecure") && !loopback => Err(refused(format!(
            "#insecure turns off the certificate check for {}: it is allowed only on loopback \
             (localhost, 127.0.0.1, ::1); {HOW}",
            host()
        ))),
        "rediss" | "valkeys" => Ok(()),
        "redis" | "valkey" if loopback => Ok(()),
        "redis" | "valkey" => Err(refused(format!(
            "plain {}:// to {} would send tokens and keys unencrypted: it is allowed only on loopback \
             (localhost, 127.0.0.1, ::1); {HOW}",
            parsed.scheme(),
            host()
        ))),
        other => Err(refused(format!("unsupported scheme {other:?}; {HOW}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encrypted_except_on_loopback() {
        for ok in [
            "redis://127.0.0.1:6379",
            "redis://127.8.9.10/2",
            "redis://localhost",
            "redis://LocalHost:6380",
            "redis://[::1]:6379",
            "redis://:secret@127.0.0.1",
            "valkey://127.0.0.1",
            "rediss://redis.example.com:6380",
            "valkeys://10.0.0.5",
            "rediss://127.0.0.1#insecure",
            "redis+unix:///run/redis.sock",
            "unix:///run/redis.sock?db=1",
        ] {
            assert!(check_url(ok).is_ok(), "{ok}");
        }
        for bad in [
            "redis://10.0.0.1:6379",
            "redis://10.255.255.1:6379",
            "redis://redis:6379",
            "redis://localhost.example.com",
            "redis://0.0.0.0",
            "redis://[::ffff:127.0.0.1]",
            "valkey://192.168.1.2",
            "rediss://redis.example.com#insecure",
            "http://127.0.0.1:6379",
            "127.0.0.1:6379",
        ] {
            let error = check_url(bad).expect_err(bad).to_string();
            assert!(error.contains("rediss://"), "{bad}: {error}");
        }
        let error = check_url("redis://user:hunter2@10.0.0.1").unwrap_err().to_string();
        assert!(error.contains("10.0.0.1") && !error.contains("hunter2"), "{error}");
    }
}
