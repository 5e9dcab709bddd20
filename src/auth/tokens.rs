//! Access tokens (short-lived JWT, HS256) and refresh tokens (opaque random strings, stored only as
//! SHA-256 hashes).

use std::path::Path;

use anyhow::Context;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use rand::RngCore as _;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::config::AuthSettings;
use crate::domain::account::Role;

pub const ISSUER: &str = "phananh";
pub const AUDIENCE: &str = "phananh-api";

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Claims {
    /// The user's id.
    pub sub: Uuid,
    pub role: Role,
    /// The department of staff and managers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dept: Option<Uuid>,
    /// The session (refresh-token family) this token belongs to.
    pub sid: Uuid,
    pub exp: i64,
    pub iat: i64,
    pub jti: Uuid,
    pub iss: String,
    pub aud: String,
}

/// Why an access token was refused; each is its own 401 code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenRejection {
    Expired,
    BadSignature,
    WrongIssuer,
    WrongAudience,
    /// `alg: none`, or any algorithm but the one we sign with.
    WrongAlgorithm,
    Malformed,
}

impl TokenRejection {
    pub fn code(self) -> crate::error::ErrorCode {
        use crate::error::ErrorCode;
        match self {
            TokenRejection::Expired => ErrorCode::TokenExpired,
            TokenRejection::BadSignature => ErrorCode::TokenInvalidSignature,
            TokenRejection::WrongIssuer => ErrorCode::TokenInvalidIssuer,
            TokenRejection::WrongAudience => ErrorCode::TokenInvalidAudience,
            TokenRejection::WrongAlgorithm => ErrorCode::TokenInvalidAlgorithm,
            TokenRejection::Malformed => ErrorCode::TokenMalformed,
        }
    }
}

pub struct TokenKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    ttl_secs: i64,
}

impl TokenKeys {
    /// The configured secret, else the one kept in the data directory (created on first use).
    pub fn load(settings: &AuthSettings, data_dir: &Path) -> anyhow::Result<Self> {
        let secret = match &settings.jwt_secret {
            Some(s) => s.expose().as_bytes().to_vec(),
            None => load_or_create_secret(&data_dir.join("jwt-secret"))?,
        };
        Self::from_secret(&secret, settings.access_token_ttl_secs)
    }

    pub fn from_secret(secret: &[u8], ttl_secs: u64) -> anyhow::Result<Self> {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[ISSUER]);
        validation.set_audience(&[AUDIENCE]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.leeway = 30;
        Ok(Self {
            encoding: EncodingKey::from_secret(secret).context("JWT signing key")?,
            decoding: DecodingKey::from_secret(secret).context("JWT verification key")?,
            validation,
            ttl_secs: i64::try_from(ttl_secs).unwrap_or(900),
        })
    }

    pub fn ttl_secs(&self) -> i64 {
        self.ttl_secs
    }

    pub fn issue(
        &self,
        user: Uuid,
        role: Role,
        dept: Option<Uuid>,
        session: Uuid,
    ) -> anyhow::Result<String> {
        let now = chrono::Utc::now().timestamp();
        let claims = Claims {
            sub: user,
            role,
            dept,
            sid: session,
            iat: now,
            exp: now + self.ttl_secs,
            jti: Uuid::now_v7(),
            iss: ISSUER.into(),
            aud: AUDIENCE.into(),
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .context("signing access token")
    }

    pub fn verify(&self, token: &str) -> Result<Claims, TokenRejection> {
        // Look at the header first: `alg: none` and friends never reach signature checking.
        let header = jsonwebtoken::decode_header(token).map_err(|_| {
            // An algorithm the library does not even know (`none`) is still an algorithm refusal.
            let named_alg = token
                .split('.')
                .next()
                .and_then(|h| URL_SAFE_NO_PAD.decode(h).ok())
                .and_then(|h| serde_json::from_slice::<serde_json::Value>(&h).ok())
                .is_some_and(|h| h.get("alg").is_some_and(|a| a.is_string()));
            if named_alg {
                TokenRejection::WrongAlgorithm
            } else {
                TokenRejection::Malformed
            }
        })?;
        if header.alg != Algorithm::HS256 {
            return Err(TokenRejection::WrongAlgorithm);
        }
        jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .map(|data| data.claims)
            .map_err(|e| match e.kind() {
                ErrorKind::ExpiredSignature => TokenRejection::Expired,
                ErrorKind::InvalidSignature => TokenRejection::BadSignature,
                ErrorKind::InvalidIssuer => TokenRejection::WrongIssuer,
                ErrorKind::InvalidAudience => TokenRejection::WrongAudience,
                ErrorKind::InvalidAlgorithm
                | ErrorKind::MissingAlgorithm
                | ErrorKind::InvalidAlgorithmName => TokenRejection::WrongAlgorithm,
                _ => TokenRejection::Malformed,
            })
    }
}

fn load_or_create_secret(path: &Path) -> anyhow::Result<Vec<u8>> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    match std::fs::read_to_string(path) {
        Ok(text) => {
            let bytes = URL_SAFE_NO_PAD
                .decode(text.trim())
                .with_context(|| format!("{} is not a base64url key", path.display()))?;
            anyhow::ensure!(
                bytes.len() >= 32,
                "{} holds a key shorter than 32 bytes",
                path.display()
            );
            return Ok(bytes);
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    }
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut key = vec![0u8; 64];
    rand::rng().fill_bytes(&mut key);
    // Written whole to a private temporary file, then linked into place: another process sees
    // either no key or a complete one, and if it linked first, its key is the one we use.
    let temp = dir.join(format!(".jwt-secret.{}", Uuid::now_v7().simple()));
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&temp)
        .with_context(|| format!("writing {}", temp.display()))?;
    file.write_all(URL_SAFE_NO_PAD.encode(&key).as_bytes())?;
    file.sync_all()?;
    let linked = std::fs::hard_link(&temp, path);
    let _ = std::fs::remove_file(&temp);
    match linked {
        Ok(()) => {
            tracing::info!(path = %path.display(), "generated a JWT signing key");
            Ok(key)
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => load_or_create_secret(path),
        Err(e) => Err(e).with_context(|| format!("writing {}", path.display())),
    }
}

/// A new opaque token (256 random bits, base64url) and the hash to store.
pub fn new_opaque_token() -> (String, Vec<u8>) {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    let token = URL_SAFE_NO_PAD.encode(bytes);
    let hash = hash_token(&token);
    (token, hash)
}

/// A new API key `phk_…` (the recognisable prefix helps secret scanners and people tell what
/// leaked), its hash (all that is stored) and the prefix shown in listings.
pub fn new_api_key() -> (String, Vec<u8>, String) {
    let (secret, _) = new_opaque_token();
    let key = format!("phk_{secret}");
    let hash = hash_token(&key);
    let prefix: String = key.chars().take(12).collect();
    (key, hash, prefix)
}

pub fn hash_token(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> TokenKeys {
        TokenKeys::from_secret(&[7u8; 32], 900).unwrap()
    }

    fn sign(claims: &serde_json::Value, alg: Algorithm, secret: &[u8]) -> String {
        jsonwebtoken::encode(
            &Header::new(alg),
            claims,
            &EncodingKey::from_secret(secret).unwrap(),
        )
        .unwrap()
    }

    fn claims(overrides: serde_json::Value) -> serde_json::Value {
        let now = chrono::Utc::now().timestamp();
        let mut c = serde_json::json!({
            "sub": Uuid::now_v7(), "role": "citizen", "sid": Uuid::now_v7(), "jti": Uuid::now_v7(),
            "iat": now, "exp": now + 600, "iss": ISSUER, "aud": AUDIENCE,
        });
        for (k, v) in overrides.as_object().unwrap() {
            c[k] = v.clone();
        }
        c
    }

    #[test]
    fn issued_tokens_verify() {
        let k = keys();
        let (user, session) = (Uuid::now_v7(), Uuid::now_v7());
        let token = k.issue(user, Role::Staff, Some(session), session).unwrap();
        let c = k.verify(&token).unwrap();
        assert_eq!((c.sub, c.role, c.sid), (user, Role::Staff, session));
        assert_eq!(c.exp - c.iat, 900);
    }

    #[test]
    fn every_kind_of_bad_token_has_its_own_reason() {
        let k = keys();
        let secret = [7u8; 32];
        let now = chrono::Utc::now().timestamp();
        let expired = sign(
            &claims(serde_json::json!({"exp": now - 3600, "iat": now - 4000})),
            Algorithm::HS256,
            &secret,
        );
        assert_eq!(k.verify(&expired), Err(TokenRejection::Expired));
        let forged = sign(&claims(serde_json::json!({})), Algorithm::HS256, &[8u8; 32]);
        assert_eq!(k.verify(&forged), Err(TokenRejection::BadSignature));
        let issuer = sign(
            &claims(serde_json::json!({"iss": "evil"})),
            Algorithm::HS256,
            &secret,
        );
        assert_eq!(k.verify(&issuer), Err(TokenRejection::WrongIssuer));
        let audience = sign(
            &claims(serde_json::json!({"aud": "other-api"})),
            Algorithm::HS256,
            &secret,
        );
        assert_eq!(k.verify(&audience), Err(TokenRejection::WrongAudience));
        let hs512 = sign(&claims(serde_json::json!({})), Algorithm::HS512, &secret);
        assert_eq!(k.verify(&hs512), Err(TokenRejection::WrongAlgorithm));
        // alg: none, hand-made (no library will produce one).
        let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
        let body = URL_SAFE_NO_PAD.encode(claims(serde_json::json!({})).to_string());
        let none = format!("{header}.{body}.");
        assert_eq!(k.verify(&none), Err(TokenRejection::WrongAlgorithm));
        assert_eq!(k.verify("not.a.jwt"), Err(TokenRejection::Malformed));
        assert_eq!(k.verify(""), Err(TokenRejection::Malformed));
    }

    #[test]
    fn generated_secret_is_kept_private_and_reused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys/jwt-secret");
        let a = load_or_create_secret(&path).unwrap();
        let b = load_or_create_secret(&path).unwrap();
        assert_eq!(a, b);
        assert_eq!(a.len(), 64);
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }

    #[test]
    fn opaque_tokens_are_random_and_hashed() {
        let (a, ha) = new_opaque_token();
        let (b, _) = new_opaque_token();
        assert_ne!(a, b);
        assert_eq!(a.len(), 43);
        assert_eq!(ha, hash_token(&a));
        assert_eq!(ha.len(), 32);
    }
}
