//! `ExternalBodyIn::parse` (draft §3.2, RFC 2045 §5.1) on arbitrary text.
//!
//! Invariants:
//! * never panics (also for non-UTF-8 input, fed lossily converted and, when valid, verbatim);
//! * a reference that validates against a suite is reproduced exactly by its canonical form:
//!   `parse(to_content_type(v))` validates to `v` again, and the canonical form is a fixed point;
//! * whether a parsed reference validates depends only on `KDF.Nh`, and every accepted `chunk-size`
//!   lies in `MIN_CHUNK_SIZE..=MAX_CHUNK_SIZE`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mimi_attachments::reference::{ExternalBody, ExternalBodyIn, MAX_CONTENT_TYPE_LEN, MAX_TOKEN_LEN};
use mimi_attachments::stream::{MAX_CHUNK_SIZE, MIN_CHUNK_SIZE};
use mimi_attachments::CipherSuite;

fn check(s: &str) {
    let Ok(parsed) = ExternalBodyIn::parse(s) else { return };
    assert!(s.len() <= MAX_CONTENT_TYPE_LEN);
    for suite in CipherSuite::ALL {
        let Ok(v) = parsed.clone().validate(suite) else { continue };
        assert_eq!(v.nonce.len(), suite.nh());
        assert_eq!(v.hash.len(), suite.nh());
        assert!((1..=MAX_TOKEN_LEN).contains(&v.token.len()));
        if let Some(cs) = v.chunk_size {
            assert!((MIN_CHUNK_SIZE..=MAX_CHUNK_SIZE).contains(&cs.get()));
        }
        let canonical = v.to_content_type();
        let again = ExternalBody::parse(&canonical, suite).expect("the canonical form of an accepted reference parses");
        assert_eq!(again, v, "round trip through {canonical:?}");
        assert_eq!(again.to_content_type(), canonical, "canonical form is a fixed point");
        // Validation depends only on the suite's Nh.
        for other in CipherSuite::ALL {
            assert_eq!(parsed.clone().validate(other).is_ok(), other.nh() == suite.nh());
        }
    }
}

fuzz_target!(|data: &[u8]| {
    if let Ok(s) = core::str::from_utf8(data) {
        check(s);
    } else {
        check(&String::from_utf8_lossy(data));
    }
});
