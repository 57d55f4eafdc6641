//! The few DER structures signing needs: a JWK's private key as PKCS#1 (RSA) or
//! PKCS#8 (EC, Ed25519), the forms both crypto backends load, and (aws-lc-rs only)
//! reading a generated RSA key's PKCS#8 back into its components.

const SEQUENCE: u8 = 0x30;
const INTEGER: u8 = 0x02;
const OCTET_STRING: u8 = 0x04;
const BIT_STRING: u8 = 0x03;
/// `[1]` explicit, constructed: the public key in an RFC 5915 `ECPrivateKey`.
const PUBLIC_KEY_TAG: u8 = 0xa1;

/// `id-ecPublicKey` (1.2.840.10045.2.1), encoded.
const EC_PUBLIC_KEY: &[u8] = &[0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];
/// `secp256r1` (1.2.840.10045.3.1.7), encoded.
pub(super) const P256: &[u8] = &[0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
/// `secp384r1` (1.3.132.0.34), encoded.
pub(super) const P384: &[u8] = &[0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22];
/// `id-Ed25519` (1.3.101.112), encoded.
const ED25519: &[u8] = &[0x06, 0x03, 0x2b, 0x65, 0x70];

/// Tag, definite length, content.
fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    match u8::try_from(content.len()) {
        Ok(len) if len < 0x80 => out.push(len),
        _ => {
            let be = content.len().to_be_bytes();
            let significant: Vec<u8> = be.iter().copied().skip_while(|b| *b == 0).collect();
            // At most 8 length bytes: always fits the 7-bit count.
            out.push(0x80 | u8::try_from(significant.len()).unwrap_or(8));
            out.extend(significant);
        }
    }
    out.extend_from_slice(content);
    out
}

fn sequence(parts: &[&[u8]]) -> Vec<u8> {
    tlv(SEQUENCE, &parts.concat())
}

/// A non-negative INTEGER from unsigned big-endian bytes.
fn unsigned(be: &[u8]) -> Vec<u8> {
    let trimmed: Vec<u8> = be.iter().copied().skip_while(|b| *b == 0).collect();
    let mut content = Vec::with_capacity(trimmed.len() + 1);
    if trimmed.first().is_none_or(|b| b & 0x80 != 0) {
        content.push(0);
    }
    content.extend(trimmed);
    tlv(INTEGER, &content)
}

/// The parts of an RSA private key, unsigned big-endian, in RFC 8017 order.
pub(super) struct RsaParts {
    pub(super) n: Vec<u8>,
    pub(super) e: Vec<u8>,
    pub(super) d: Vec<u8>,
    pub(super) p: Vec<u8>,
    pub(super) q: Vec<u8>,
    pub(super) dp: Vec<u8>,
    pub(super) dq: Vec<u8>,
    pub(super) qi: Vec<u8>,
}

/// RFC 8017 `RSAPrivateKey` (PKCS#1), two primes.
pub(super) fn rsa_private_key(k: &RsaParts) -> Vec<u8> {
    let ints: Vec<Vec<u8>> =
        [&[][..], &k.n, &k.e, &k.d, &k.p, &k.q, &k.dp, &k.dq, &k.qi].iter().map(|v| unsigned(v)).collect();
    tlv(SEQUENCE, &ints.concat())
}

/// The parts of an EC private key, fixed-size big-endian: scalar and public point
/// (`x` and `y` empty when unknown: the backend derives the point from `d`).
pub(super) struct EcParts {
    pub(super) d: Vec<u8>,
    pub(super) x: Vec<u8>,
    pub(super) y: Vec<u8>,
}

/// RFC 5208 `PrivateKeyInfo` holding an RFC 5915 `ECPrivateKey` with its public point.
pub(super) fn ec_private_key_info(curve: &[u8], k: &EcParts) -> Vec<u8> {
    let mut ec_private_key = [unsigned(&[1]), tlv(OCTET_STRING, &k.d)].concat();
    if !k.x.is_empty() && !k.y.is_empty() {
        let point = [&[0x00, 0x04][..], &k.x, &k.y].concat();
        ec_private_key.extend(tlv(PUBLIC_KEY_TAG, &tlv(BIT_STRING, &point)));
    }
    let ec_private_key = tlv(SEQUENCE, &ec_private_key);
    sequence(&[&unsigned(&[0]), &sequence(&[EC_PUBLIC_KEY, curve]), &tlv(OCTET_STRING, &ec_private_key)])
}

/// RFC 8410 `OneAsymmetricKey` v1 for an Ed25519 seed.
pub(super) fn ed25519_private_key_info(seed: &[u8]) -> Vec<u8> {
    sequence(&[&unsigned(&[0]), &sequence(&[ED25519]), &tlv(OCTET_STRING, &tlv(OCTET_STRING, seed))])
}

/// Splits one TLV off `input`: (tag, content, rest); the reader key loading uses.
#[cfg(feature = "aws-lc-rs")]
use crate::keys::der_element as read;

/// The components of an RSA key in a PKCS#8 `PrivateKeyInfo`.
#[cfg(feature = "aws-lc-rs")]
pub(super) fn rsa_parts_from_pkcs8(der: &[u8]) -> Option<RsaParts> {
    let (SEQUENCE, info, _) = read(der)? else { return None };
    let (INTEGER, _version, rest) = read(info)? else { return None };
    let (SEQUENCE, _algorithm, rest) = read(rest)? else { return None };
    let (OCTET_STRING, pkcs1, _) = read(rest)? else { return None };
    let (SEQUENCE, mut rest, _) = read(pkcs1)? else { return None };
    let mut ints = Vec::with_capacity(9);
    while !rest.is_empty() {
        let (INTEGER, value, tail) = read(rest)? else { return None };
        ints.push(value.iter().copied().skip_while(|b| *b == 0).collect::<Vec<u8>>());
        rest = tail;
    }
    let [_version, n, e, d, p, q, dp, dq, qi]: [Vec<u8>; 9] = ints.try_into().ok()?;
    Some(RsaParts { n, e, d, p, q, dp, dq, qi })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_are_minimal_and_non_negative() {
        assert_eq!(unsigned(&[0]), [0x02, 0x01, 0x00]);
        assert_eq!(unsigned(&[]), [0x02, 0x01, 0x00]);
        assert_eq!(unsigned(&[0, 0, 0x7f]), [0x02, 0x01, 0x7f]);
        assert_eq!(unsigned(&[0x80]), [0x02, 0x02, 0x00, 0x80]);
    }

    #[test]
    fn long_lengths() {
        let content = vec![7; 300];
        let der = tlv(OCTET_STRING, &content);
        assert_eq!(der.get(..4), Some(&[0x04, 0x82, 0x01, 0x2c][..]));
        assert_eq!(der.len(), 304);
    }

    #[test]
    fn ed25519_matches_rfc_8410_example_layout() {
        // RFC 8410 §10.3: 30 2e 02 01 00 30 05 06 03 2b 65 70 04 22 04 20 ‖ seed.
        let der = ed25519_private_key_info(&[9; 32]);
        assert_eq!(
            der.get(..16),
            Some(&[0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20][..])
        );
    }

    #[cfg(feature = "aws-lc-rs")]
    #[test]
    fn rsa_round_trip() {
        let parts = RsaParts {
            n: vec![0xc1; 256],
            e: vec![1, 0, 1],
            d: vec![5; 256],
            p: vec![0x81; 128],
            q: vec![3; 128],
            dp: vec![4; 128],
            dq: vec![6; 128],
            qi: vec![0, 8],
        };
        let pkcs1 = rsa_private_key(&parts);
        let pkcs8 = sequence(&[&unsigned(&[0]), &sequence(&[&[0x06, 0x01, 0x01][..]]), &tlv(OCTET_STRING, &pkcs1)]);
        let back = rsa_parts_from_pkcs8(&pkcs8).unwrap();
        assert_eq!((back.n, back.e, back.p, back.qi), (parts.n, parts.e, parts.p, vec![8]));
    }
}
