//! base64url without padding (RFC 4648 §5), the only base64 the package writes or reads: the
//! reference's `token`/`nonce`/`hash`, request signatures, relayed messages. Decoding is strict, as
//! the `base64` crate's `URL_SAFE_NO_PAD` is (tested against it): no padding, no characters
//! outside the alphabet, no length of 1 mod 4, and the unused bits of the last character zero (so
//! every value has one encoding). Our own ~60 lines instead of that crate save ~6 KB of the
//! module.

/// The input is not canonical unpadded base64url.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NotBase64Url;

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// The character for the 6-bit value `v` (only the low 6 bits are used).
fn char_of(v: u32) -> char {
    char::from(ALPHABET.get((v & 63) as usize).copied().unwrap_or(b'A'))
}

fn value_of(c: u8) -> Result<u32, NotBase64Url> {
    let v = match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'-' => 62,
        b'_' => 63,
        _ => return Err(NotBase64Url),
    };
    Ok(u32::from(v))
}

/// `data` as unpadded base64url.
pub fn encode(data: impl AsRef<[u8]>) -> String {
    let data = data.as_ref();
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for group in data.chunks(3) {
        let mut n = 0u32;
        for (i, b) in group.iter().enumerate() {
            n |= u32::from(*b) << (16 - 8 * i);
        }
        // 1 byte → 2 characters, 2 → 3, 3 → 4.
        for i in 0..=group.len() {
            out.push(char_of(n >> (18 - 6 * i)));
        }
    }
    out
}

/// The bytes of canonical unpadded base64url `text`.
pub fn decode(text: impl AsRef<[u8]>) -> Result<Vec<u8>, NotBase64Url> {
    let text = text.as_ref();
    if text.len() % 4 == 1 {
        return Err(NotBase64Url);
    }
    let mut out = Vec::with_capacity(text.len() / 4 * 3 + 2);
    for group in text.chunks(4) {
        let mut n = 0u32;
        for (i, c) in group.iter().enumerate() {
            n |= value_of(*c)? << (18 - 6 * i);
        }
        // 4 characters → 3 bytes, 3 → 2, 2 → 1; the bits below those bytes must be zero.
        let bytes = group.len() - 1;
        if n & (0xFF_FFFF >> (8 * bytes)) != 0 {
            return Err(NotBase64Url);
        }
        for i in 0..bytes {
            out.push((n >> (16 - 8 * i)) as u8);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine as _;

    #[test]
    fn rfc4648_vectors() {
        for (plain, enc) in [
            ("", ""),
            ("f", "Zg"),
            ("fo", "Zm8"),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg"),
            ("fooba", "Zm9vYmE"),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(encode(plain), enc);
            assert_eq!(decode(enc).as_deref(), Ok(plain.as_bytes()));
        }
        assert_eq!(encode([0xfb, 0xff]), "-_8");
    }

    /// Every byte string up to 3 bytes, and pseudo-random longer ones: the same text as the
    /// `base64` crate, and back.
    #[test]
    fn agrees_with_the_base64_crate() {
        let mut inputs: Vec<Vec<u8>> = vec![vec![]];
        for a in 0..=255u8 {
            inputs.push(vec![a]);
            for b in [0u8, 1, 0x7f, 0x80, 0xfe, 0xff, a] {
                inputs.push(vec![a, b]);
                inputs.push(vec![b, a, a ^ b]);
            }
        }
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        for len in 4..200 {
            let v = (0..len)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    x as u8
                })
                .collect::<Vec<u8>>();
            inputs.push(v);
        }
        for v in inputs {
            let ours = encode(&v);
            assert_eq!(ours, URL_SAFE_NO_PAD.encode(&v));
            assert_eq!(decode(&ours), Ok(v));
        }
    }

    /// Every text of up to 3 characters over the alphabet plus some outsiders: accepted exactly
    /// when the `base64` crate accepts it, with the same bytes.
    #[test]
    fn strict_like_the_base64_crate() {
        let chars: Vec<u8> = ALPHABET.iter().copied().chain(*b"=+/ .\n\0\xff").collect();
        let mut texts: Vec<Vec<u8>> = vec![vec![]];
        for a in &chars {
            texts.push(vec![*a]);
            for b in &chars {
                texts.push(vec![*a, *b]);
                for c in [b'A', b'B', b'Q', b'g', b'_', b'=', b'+'] {
                    texts.push(vec![*a, *b, c]);
                    texts.push(vec![b'Z', b'm', b'9', b'v', *a, *b, c]);
                }
            }
        }
        for t in ["Zm9v=", "Zm9vYg==", "Zm9vYmE=", "Zh", "Zm9", "Zm9vYh", "Zm9vYmF"] {
            texts.push(t.as_bytes().to_vec());
        }
        for t in texts {
            assert_eq!(decode(&t).ok(), URL_SAFE_NO_PAD.decode(&t).ok(), "{:?}", String::from_utf8_lossy(&t));
        }
    }
}
