//! The RFC 6750 `b64token` syntax and form-urlencoded values.

use crate::reject::InvalidRequest;

/// A percent-decoded `application/x-www-form-urlencoded` value (query string or form body) that must be a `b64token`.
pub(crate) fn decode_form_value(value: &str) -> Result<String, InvalidRequest> {
    let token = percent_decode(value).ok_or(InvalidRequest::MalformedHeader)?;
    check_b64token(token.as_bytes())?;
    Ok(token)
}

/// Bytes allowed in a `b64token` before its trailing `=` padding.
// Indexing is in range by construction: `b < 256` here, and a `u8` below.
#[allow(clippy::indexing_slicing)]
const B64TOKEN: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        table[b] = c.is_ascii_alphanumeric() || matches!(c, b'-' | b'.' | b'_' | b'~' | b'+' | b'/');
        b += 1;
    }
    table
};

/// RFC 6750 `b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="`.
pub(crate) fn check_b64token(bytes: &[u8]) -> Result<(), InvalidRequest> {
    let body_len = bytes.iter().rposition(|&b| b != b'=').map_or(0, |p| p + 1);
    // A table lookup per byte: this runs over every token on every request. A `u8`
    // always indexes a 256-entry table.
    #[allow(clippy::indexing_slicing)]
    let ok = body_len > 0 && bytes.iter().take(body_len).fold(true, |ok, &b| ok & B64TOKEN[usize::from(b)]);
    if ok { Ok(()) } else { Err(InvalidRequest::MalformedHeader) }
}

fn percent_decode(s: &str) -> Option<String> {
    let mut out = Vec::with_capacity(s.len());
    let mut bytes = s.bytes();
    while let Some(b) = bytes.next() {
        match b {
            b'%' => {
                let hex = [bytes.next()?, bytes.next()?];
                out.push(u8::from_str_radix(std::str::from_utf8(&hex).ok()?, 16).ok()?);
            }
            b'+' => out.push(b' '),
            b => out.push(b),
        }
    }
    String::from_utf8(out).ok()
}
