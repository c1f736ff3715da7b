//! Client identity at the DS: who is calling a mailbox or registration route.
//!
//! Group routes are authenticated by MLS (a `Mimi-Auth` signature by a member's leaf key). The
//! routes that act for a *client* rather than a group member — publishing and claiming key
//! packages, fetching Welcomes, registering a group — need to know the client itself. The DS does
//! not run a login; it verifies a bearer token issued by the operator's login:
//!
//! * **Token mode** (`--token-secret-file`): `Authorization: Bearer <JWT>`, a compact JWS with
//!   `alg` = `HS256` only (the header is checked, `none` and every other algorithm are refused),
//!   the secret shared with the operator's login. Claims: `sub` (the client id, i.e. the MLS
//!   BasicCredential identity, as a UTF-8 string) and `exp` (UNIX seconds) are required; `nbf`
//!   is honoured if present. Any JWT library can issue these.
//! * **Development mode** (`--dev-identity`): the same tokens, but signed with a random key made at
//!   startup and handed out by `POST /v1/dev/login` for **any** name. Every response carries
//!   `Mimi-DS-Mode: development` and the DS logs a warning at startup. Never for production.
//!   With `--token-secret-file` as well, the dev login signs with that file's secret instead, so
//!   that a set of development replicas (the e2e suite behind a load balancer) accept each
//!   other's tokens.
//!
//! HS256 is implemented here with the RustCrypto `hmac` and `sha2` crates (already in the tree)
//! instead of a JWT crate: one algorithm, pinned, fits in this file, and the MAC is compared in
//! constant time (`Mac::verify_slice`).

use axum::http::{header, HeaderMap, StatusCode};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use zeroize::Zeroizing;

use crate::error::ApiError;

/// Smallest accepted HMAC secret, in bytes.
pub const MIN_SECRET_LEN: usize = 32;

/// The secret in `path`, without one trailing newline; at least [`MIN_SECRET_LEN`] bytes.
fn read_secret(path: &std::path::Path) -> Result<Zeroizing<Vec<u8>>, IdentityError> {
    let raw =
        Zeroizing::new(std::fs::read(path).map_err(|e| IdentityError::Secret(format!("{}: {e}", path.display())))?);
    let trimmed = raw.strip_suffix(b"\n").unwrap_or(&raw);
    let trimmed = trimmed.strip_suffix(b"\r").unwrap_or(trimmed);
    if trimmed.len() < MIN_SECRET_LEN {
        return Err(IdentityError::Secret(format!("shorter than {MIN_SECRET_LEN} bytes")));
    }
    Ok(Zeroizing::new(trimmed.to_vec()))
}
/// Lifetime of a development-mode token, in seconds.
pub const DEV_TOKEN_TTL_SECS: u64 = 24 * 3600;
/// Largest accepted token, in bytes.
const MAX_TOKEN_LEN: usize = 4096;
/// The fixed JOSE header this DS issues (`{"alg":"HS256","typ":"JWT"}`).
const HEADER_JSON: &str = r#"{"alg":"HS256","typ":"JWT"}"#;

/// How client tokens are checked.
pub struct Identity {
    key: Zeroizing<Vec<u8>>,
    dev: bool,
}

impl std::fmt::Debug for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Identity").field("dev", &self.dev).finish_non_exhaustive()
    }
}

/// Why an identity could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    /// Neither mode configured.
    #[error(
        "no client identity configured: pass --token-secret-file <FILE> (HS256 secret shared with your login) \
         or, for a local demo only, --dev-identity"
    )]
    NotConfigured,
    /// The secret file.
    #[error("token secret: {0}")]
    Secret(String),
}

#[derive(serde::Deserialize)]
struct JoseHeader {
    alg: String,
}

#[derive(serde::Deserialize, serde::Serialize)]
struct Claims {
    sub: String,
    exp: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    nbf: Option<u64>,
}

fn unauthorized(m: &str) -> ApiError {
    ApiError::new(StatusCode::UNAUTHORIZED, "Unauthorized", m)
}

fn now_secs() -> u64 {
    crate::reqauth::now_ms() / 1000
}

impl Identity {
    /// From the configuration: a secret file, development mode, or both (development login
    /// signing with the file's secret, for development replicas); neither is an error.
    pub fn from_config(dev: bool, secret_file: Option<&std::path::Path>) -> Result<Self, IdentityError> {
        let key = match (dev, secret_file) {
            (false, None) => return Err(IdentityError::NotConfigured),
            (true, None) => {
                let mut key = Zeroizing::new(vec![0u8; 32]);
                getrandom::fill(&mut key).map_err(|e| IdentityError::Secret(e.to_string()))?;
                key
            }
            (_, Some(p)) => read_secret(p)?,
        };
        Ok(Self { key, dev })
    }

    /// A verifier for `secret` (token mode); for tests and embedding.
    pub fn with_secret(secret: &[u8]) -> Self {
        Self { key: Zeroizing::new(secret.to_vec()), dev: false }
    }

    /// Development mode?
    pub fn is_dev(&self) -> bool {
        self.dev
    }

    fn mac(&self) -> Hmac<Sha256> {
        // HMAC accepts keys of any length.
        match <Hmac<Sha256> as Mac>::new_from_slice(&self.key) {
            Ok(m) => m,
            Err(_) => unreachable_hmac(),
        }
    }

    /// Issues a token for `client` valid `ttl_secs` (the development login; tests).
    pub fn issue(&self, client: &str, ttl_secs: u64) -> Result<String, ApiError> {
        let claims = Claims { sub: client.to_owned(), exp: now_secs().saturating_add(ttl_secs), nbf: None };
        let payload = serde_json::to_vec(&claims).map_err(ApiError::internal)?;
        let signing_input = format!("{}.{}", URL_SAFE_NO_PAD.encode(HEADER_JSON), URL_SAFE_NO_PAD.encode(payload));
        let mut m = self.mac();
        m.update(signing_input.as_bytes());
        let sig = m.finalize().into_bytes();
        Ok(format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(sig)))
    }

    /// Verifies a token and returns the client id (the `sub` claim as bytes).
    pub fn verify(&self, token: &str) -> Result<Vec<u8>, ApiError> {
        if token.len() > MAX_TOKEN_LEN {
            return Err(unauthorized("token too long"));
        }
        let mut parts = token.split('.');
        let (Some(h), Some(p), Some(s), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
            return Err(unauthorized("malformed token"));
        };
        let header_json = URL_SAFE_NO_PAD.decode(h).map_err(|_| unauthorized("malformed token"))?;
        let hdr: JoseHeader = serde_json::from_slice(&header_json).map_err(|_| unauthorized("malformed token"))?;
        if hdr.alg != "HS256" {
            return Err(unauthorized("token algorithm must be HS256"));
        }
        let sig = URL_SAFE_NO_PAD.decode(s).map_err(|_| unauthorized("malformed token"))?;
        let mut m = self.mac();
        m.update(h.as_bytes());
        m.update(b".");
        m.update(p.as_bytes());
        m.verify_slice(&sig).map_err(|_| unauthorized("invalid token"))?;
        let payload = URL_SAFE_NO_PAD.decode(p).map_err(|_| unauthorized("malformed token"))?;
        let c: Claims = serde_json::from_slice(&payload).map_err(|_| unauthorized("token claims: need sub and exp"))?;
        let now = now_secs();
        if c.exp <= now {
            return Err(unauthorized("token expired"));
        }
        if c.nbf.is_some_and(|nbf| nbf > now) {
            return Err(unauthorized("token not yet valid"));
        }
        if c.sub.is_empty() {
            return Err(unauthorized("empty sub"));
        }
        Ok(c.sub.into_bytes())
    }

    /// The authenticated client of a request: exactly one `Authorization: Bearer` header with a
    /// valid token. Several `Authorization` headers are 400.
    pub fn client_of(&self, headers: &HeaderMap) -> Result<Vec<u8>, ApiError> {
        let value = single_header(headers, header::AUTHORIZATION.as_str())?
            .ok_or_else(|| unauthorized("missing Authorization: Bearer token"))?;
        let token = value
            .to_str()
            .ok()
            .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
            .map(str::trim)
            .ok_or_else(|| unauthorized("Authorization must be a Bearer token"))?;
        self.verify(token)
    }
}

#[cold]
fn unreachable_hmac() -> Hmac<Sha256> {
    // `new_from_slice` never fails for HMAC (any key length); keep a defined value anyway.
    <Hmac<Sha256> as hmac::digest::KeyInit>::new(&Default::default())
}

/// The value of header `name` if present once; 400 `BadRequest` if it is repeated (an
/// intermediary or client that sends two credentials must not get the first one silently used).
pub fn single_header<'a>(headers: &'a HeaderMap, name: &str) -> Result<Option<&'a axum::http::HeaderValue>, ApiError> {
    let mut it = headers.get_all(name).iter();
    let first = it.next();
    if it.next().is_some() {
        return Err(ApiError::bad_request(format!("more than one {name} header")));
    }
    Ok(first)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_verify_only_with_the_key_alg_and_time_they_were_made_for() {
        let id = Identity::with_secret(&[7u8; 32]);
        let t = id.issue("alice", 60).unwrap();
        assert_eq!(id.verify(&t).unwrap(), b"alice");
        // Another key.
        assert!(Identity::with_secret(&[8u8; 32]).verify(&t).is_err());
        // A tampered payload.
        let parts: Vec<&str> = t.split('.').collect();
        let forged_payload = URL_SAFE_NO_PAD.encode(br#"{"sub":"mallory","exp":99999999999}"#);
        assert!(id.verify(&format!("{}.{}.{}", parts[0], forged_payload, parts[2])).is_err());
        // alg none.
        let none = URL_SAFE_NO_PAD.encode(br#"{"alg":"none"}"#);
        assert!(id.verify(&format!("{none}.{}.", parts[1])).is_err());
        // Expired.
        let old = Claims { sub: "alice".into(), exp: 1, nbf: None };
        let p = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&old).unwrap());
        let input = format!("{}.{p}", URL_SAFE_NO_PAD.encode(HEADER_JSON));
        let mut m = id.mac();
        m.update(input.as_bytes());
        let sig = URL_SAFE_NO_PAD.encode(m.finalize().into_bytes());
        assert!(id.verify(&format!("{input}.{sig}")).is_err());
        assert!(id.verify("a.b").is_err());
    }

    #[test]
    fn configuration_needs_exactly_one_mode_and_a_long_secret() {
        assert!(matches!(Identity::from_config(false, None), Err(IdentityError::NotConfigured)));
        let dir = std::env::temp_dir().join(format!("mimi-ds-id-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let short = dir.join("short");
        std::fs::write(&short, b"too short\n").unwrap();
        assert!(matches!(Identity::from_config(false, Some(&short)), Err(IdentityError::Secret(_))));
        assert!(matches!(Identity::from_config(true, Some(&short)), Err(IdentityError::Secret(_))));
        let good = dir.join("good");
        std::fs::write(&good, [b'k'; 40]).unwrap();
        assert!(!Identity::from_config(false, Some(&good)).unwrap().is_dev());
        assert!(Identity::from_config(true, None).unwrap().is_dev());
        // Development replicas: the dev login signs with the shared secret, so a token one
        // replica issues verifies at another configured with the same file.
        let (r1, r2) =
            (Identity::from_config(true, Some(&good)).unwrap(), Identity::from_config(true, Some(&good)).unwrap());
        assert!(r1.is_dev() && r2.is_dev());
        let t = r1.issue("carol", 60).unwrap();
        assert_eq!(r2.verify(&t).unwrap(), b"carol");
        let lone = Identity::from_config(true, None).unwrap();
        assert!(lone.verify(&t).is_err(), "a random dev key must not accept another replica's token");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
