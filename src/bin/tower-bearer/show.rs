//! Formatting shared by the commands: durations, times relative to now, and the
//! decoded parts of a token (never its signature).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::Value;

/// Seconds since the epoch, now.
pub(crate) fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// `90` → `1m 30s`.
pub(crate) fn duration(d: Duration) -> String {
    let secs = d.as_secs();
    let (d, h, m, s) = (secs / 86_400, secs / 3600 % 24, secs / 60 % 60, secs % 60);
    let parts: Vec<String> = [(d, "d"), (h, "h"), (m, "m"), (s, "s")]
        .into_iter()
        .filter(|(n, _)| *n > 0)
        .map(|(n, unit)| format!("{n}{unit}"))
        .collect();
    if parts.is_empty() { "0s".into() } else { parts.join(" ") }
}

/// A NumericDate relative to now: `in 4m 59s`, `2m ago`.
pub(crate) fn relative(at: u64) -> String {
    let now = now();
    if at == now {
        "now".into()
    } else if at > now {
        format!("in {}", duration(Duration::from_secs(at - now)))
    } else {
        format!("{} ago", duration(Duration::from_secs(now - at)))
    }
}

/// Parses `300`, `300s`, `5m`, `2h`, `1d` (command-line durations).
pub(crate) fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let n: u64 = number.parse().map_err(|_| format!("{text:?} is not a duration (e.g. 300, 90s, 5m, 2h, 1d)"))?;
    let scale = match unit {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return Err(format!("{text:?}: unknown unit {unit:?} (use s, m, h or d)")),
    };
    n.checked_mul(scale).map(Duration::from_secs).ok_or_else(|| format!("{text:?} is too long"))
}

/// The header and the payload of a compact JWS, decoded for display when they are
/// base64url JSON (`None` otherwise). The signature is never decoded nor shown.
pub(crate) fn token_parts(token: &str) -> (Option<Value>, Option<Value>) {
    let mut parts = token.split('.');
    let decode = |part: Option<&str>| {
        let bytes = URL_SAFE_NO_PAD.decode(part?).ok()?;
        serde_json::from_slice::<Value>(&bytes).ok()
    };
    let header = decode(parts.next());
    let payload = decode(parts.next());
    (header, payload)
}

/// Pretty JSON, indented by `indent` spaces after the first line.
pub(crate) fn json(value: &Value, indent: usize) -> String {
    let text = serde_json::to_string_pretty(value).unwrap_or_else(|_| value.to_string());
    text.replace('\n', &format!("\n{}", " ".repeat(indent)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(parse_duration("300"), Ok(Duration::from_secs(300)));
        assert!(parse_duration("5 weeks").is_err());
        assert_eq!(duration(Duration::from_secs(3725)), "1h 2m 5s");
        assert_eq!(duration(Duration::ZERO), "0s");
    }
}
