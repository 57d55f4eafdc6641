//! The RFC 6750 `b64token` syntax and form-urlencoded values.

use crate::reject::InvalidRequest;

/// A percent-decoded `application/x-www-form-urlencoded` value (query string or form body) that must be a `b64token`.
pub(crate) fn decode_form_value(value: &str) -> Result<String, InvalidRequest> {
    let token = percent_decode(value).ok_or(InvalidRequest::MalformedHeader)?;
    check_b64token(token.as_bytes())?;
    Ok(token)
}

/// One `b64token` byte before the trailing `=` padding: `ALPHA / DIGIT / "-" / "." /
/// "_" / "~" / "+" / "/"`. Comparisons only, no branch and no table, so the check over
/// a whole token compiles to vector instructions.
fn b64token_byte(c: u8) -> bool {
    // Setting bit 5 maps `A`..=`Z` onto `a`..=`z` and moves no other byte into that range.
    let letter = (c | 0x20).wrapping_sub(b'a') < 26;
    // `-` `.` `/` and the digits are one run, 0x2D..=0x39.
    let dash_to_nine = c.wrapping_sub(b'-') < 13;
    letter | dash_to_nine | (c == b'+') | (c == b'_') | (c == b'~')
}

/// RFC 6750 `b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="`.
pub(crate) fn check_b64token(bytes: &[u8]) -> Result<(), InvalidRequest> {
    let body_len = bytes.iter().rposition(|&b| b != b'=').map_or(0, |p| p + 1);
    // This runs over every token on every request: a fold without early exit, which
    // the compiler vectorises.
    let body = bytes.get(..body_len).unwrap_or_default();
    let ok = body_len > 0 && body.iter().fold(true, |ok, &b| ok & b64token_byte(b));
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

#[cfg(test)]
mod tests {
    use super::b64token_byte;

    #[test]
    fn b64token_bytes_are_exactly_the_rfc_set() {
        for c in 0..=255u8 {
            let expected = c.is_ascii_alphanumeric() || matches!(c, b'-' | b'.' | b'_' | b'~' | b'+' | b'/');
            assert_eq!(b64token_byte(c), expected, "byte {c:#04x}");
        }
    }
}
