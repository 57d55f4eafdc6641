//! RSA key size, counted in bits on every loading path (RFC 7518 §3.3: 2048 at least).

/// The smallest accepted RSA modulus.
pub(crate) const MIN_RSA_BITS: usize = 2048;

/// Refuses a big-endian modulus shorter than [`MIN_RSA_BITS`] bits.
pub(crate) fn check_modulus(n: &[u8]) -> Result<(), String> {
    let bits = modulus_bits(n);
    if bits < MIN_RSA_BITS {
        return Err(format!("RSA modulus of {bits} bits is below {MIN_RSA_BITS} (RFC 7518 §3.3)"));
    }
    Ok(())
}

/// Significant bits of a big-endian unsigned integer: a 256-byte modulus whose top
/// byte is `0x7f` has 2047, not 2048.
fn modulus_bits(n: &[u8]) -> usize {
    match n.iter().position(|b| *b != 0) {
        None => 0,
        Some(first) => {
            let top = n.get(first).copied().unwrap_or(0);
            (n.len() - first - 1) * 8 + (8 - top.leading_zeros() as usize)
        }
    }
}

/// The modulus of a DER `RSAPublicKey` (RFC 8017 A.1.1: `SEQUENCE { INTEGER n, INTEGER e }`).
pub(crate) fn modulus_from_der(der: &[u8]) -> Option<&[u8]> {
    let (tag, body, _) = der_element(der)?;
    if tag != 0x30 {
        return None;
    }
    let (tag, n, _) = der_element(body)?;
    (tag == 0x02).then_some(n)
}

/// One DER element: tag, contents, and the bytes after it.
pub(crate) fn der_element(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let count = usize::from(first & 0x7f);
        if count == 0 || count > 4 || rest.len() < count {
            return None;
        }
        let (len_bytes, rest) = rest.split_at(count);
        (len_bytes.iter().fold(0usize, |acc, b| (acc << 8) | usize::from(*b)), rest)
    };
    if rest.len() < len {
        return None;
    }
    let (body, after) = rest.split_at(len);
    Some((tag, body, after))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_bits_not_bytes() {
        let mut n = vec![0xffu8; 256];
        n[0] = 0x80;
        assert_eq!(modulus_bits(&n), 2048);
        n[0] = 0x7f;
        assert_eq!(modulus_bits(&n), 2047);
        n[0] = 0x01;
        assert_eq!(modulus_bits(&n), 2041);
        assert_eq!(modulus_bits(&[0, 0, 0x80]), 8, "leading zero bytes do not count");
        assert_eq!(modulus_bits(&[]), 0);
    }

    #[test]
    fn reads_the_modulus_from_der() {
        // SEQUENCE (len 0x0a) { INTEGER 00 80 01 02 03, INTEGER 01 00 01 }
        let der = [0x30, 0x0a, 0x02, 0x05, 0x00, 0x80, 0x01, 0x02, 0x03, 0x02, 0x03, 0x01, 0x00, 0x01];
        assert_eq!(modulus_from_der(&der), Some(&der[4..9]));
        assert_eq!(modulus_from_der(&der[..5]), None, "truncated");
        assert_eq!(modulus_from_der(&[0x31, 0x00]), None, "not a SEQUENCE");
    }
}
