//! Password hashing: argon2id with OWASP's current minimum (m = 19 MiB, t = 2, p = 1), stored as a
//! PHC string that carries its parameters, so they can be raised later and old hashes upgraded
//! at the next successful login. Hashing runs on the blocking pool, at most `hash_concurrency`
//! at a time, so a login flood costs bounded memory and never stalls the event loop.

use std::sync::{Arc, OnceLock};

use argon2::password_hash::{PasswordHash, PasswordHasher as _, PasswordVerifier as _, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use tokio::sync::Semaphore;

/// OWASP Password Storage Cheat Sheet: argon2id, 19 MiB, 2 iterations, 1 lane.
pub const MEMORY_KIB: u32 = 19_456;
pub const ITERATIONS: u32 = 2;
pub const PARALLELISM: u32 = 1;

fn argon2() -> Argon2<'static> {
    let params = Params::new(MEMORY_KIB, ITERATIONS, PARALLELISM, None).unwrap_or_default();
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

#[derive(Clone)]
pub struct PasswordHasher {
    permits: Arc<Semaphore>,
}

#[derive(Debug, thiserror::Error)]
pub enum HashError {
    #[error("password hashing failed: {0}")]
    Hash(String),
    #[error("hashing task failed: {0}")]
    Task(#[from] tokio::task::JoinError),
    #[error("hashing pool closed")]
    Closed,
}

/// Result of checking a password.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    Wrong,
    Right,
    /// Right, and here is a new hash with the current parameters to store.
    RightRehashed(String),
}

impl PasswordHasher {
    pub fn new(concurrency: usize) -> Self {
        Self {
            permits: Arc::new(Semaphore::new(concurrency.max(1))),
        }
    }

    /// Runs `work` on the blocking pool under a permit. The permit travels into the blocking
    /// task: a cancelled request cannot free it while the hash is still being computed.
    async fn bounded<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> Result<T, HashError> + Send + 'static,
    ) -> Result<T, HashError> {
        let permit = self
            .permits
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| HashError::Closed)?;
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            work()
        })
        .await?
    }

    pub async fn hash(&self, password: &str) -> Result<String, HashError> {
        let password = normalise(password);
        self.bounded(move || hash_now(&password)).await
    }

    /// Checks `password` against `stored`, or against a dummy hash when there is no account, so
    /// that an unknown login costs the same time as a wrong password.
    pub async fn verify(&self, password: &str, stored: Option<&str>) -> Result<Verdict, HashError> {
        let password = normalise(password);
        let stored = stored.map(str::to_owned);
        self.bounded(move || {
            let known = stored.is_some();
            let phc = stored.unwrap_or_else(|| dummy_hash().to_owned());
            let Ok(parsed) = PasswordHash::new(&phc) else {
                return Ok(Verdict::Wrong);
            };
            let ok = argon2()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok();
            if !(ok && known) {
                return Ok(Verdict::Wrong);
            }
            if is_current(&parsed) {
                Ok(Verdict::Right)
            } else {
                Ok(Verdict::RightRehashed(hash_now(&password)?))
            }
        })
        .await
    }
}

/// Unicode NFC: "núi" typed as `u` + combining acute (some keyboards) and as the precomposed `ú`
/// (others) is the same password. Vietnamese text meets both forms.
fn normalise(password: &str) -> String {
    use unicode_normalization::UnicodeNormalization as _;
    password.nfc().collect()
}

fn hash_now(password: &str) -> Result<String, HashError> {
    let salt = new_salt()?;
    argon2()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| HashError::Hash(e.to_string()))
}

/// 16 random bytes from the OS generator (the PHC recommendation).
fn new_salt() -> Result<SaltString, HashError> {
    use rand::RngCore as _;
    let mut bytes = [0u8; 16];
    rand::rng().fill_bytes(&mut bytes);
    SaltString::encode_b64(&bytes).map_err(|e| HashError::Hash(e.to_string()))
}

/// Whether a stored hash uses today's algorithm and parameters.
fn is_current(hash: &PasswordHash<'_>) -> bool {
    let Ok(params) = Params::try_from(hash) else {
        return false;
    };
    hash.algorithm.as_str() == "argon2id"
        && params.m_cost() >= MEMORY_KIB
        && params.t_cost() >= ITERATIONS
        && params.p_cost() >= PARALLELISM
}

/// A real hash of a random password, computed once: verifying against it costs what verifying a
/// real account does.
fn dummy_hash() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| {
        let random: String = uuid::Uuid::new_v4().to_string();
        hash_now(&random).unwrap_or_default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hashes_verify_and_carry_their_parameters() {
        let h = PasswordHasher::new(2);
        let hash = h.hash("correct horse battery").await.unwrap();
        assert!(
            hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{hash}"
        );
        assert_eq!(
            h.verify("correct horse battery", Some(&hash))
                .await
                .unwrap(),
            Verdict::Right
        );
        assert_eq!(
            h.verify("wrong horse battery", Some(&hash)).await.unwrap(),
            Verdict::Wrong
        );
        assert_eq!(
            h.verify("correct horse battery", None).await.unwrap(),
            Verdict::Wrong
        );
        assert_eq!(
            h.verify("x", Some("not a phc string")).await.unwrap(),
            Verdict::Wrong
        );
    }

    #[tokio::test]
    async fn composed_and_decomposed_vietnamese_are_the_same_password() {
        let h = PasswordHasher::new(1);
        let composed = "n\u{00fa}i Langbiang";
        let decomposed = "nu\u{0301}i Langbiang";
        assert_ne!(composed, decomposed);
        let hash = h.hash(composed).await.unwrap();
        assert_eq!(
            h.verify(decomposed, Some(&hash)).await.unwrap(),
            Verdict::Right
        );
    }

    #[tokio::test]
    async fn weaker_old_hashes_are_upgraded_on_login() {
        let weak = Argon2::new(
            Algorithm::Argon2id,
            Version::V0x13,
            Params::new(4096, 1, 1, None).unwrap(),
        )
        .hash_password(b"old password here", &new_salt().unwrap())
        .unwrap()
        .to_string();
        let h = PasswordHasher::new(1);
        match h.verify("old password here", Some(&weak)).await.unwrap() {
            Verdict::RightRehashed(new) => {
                assert!(new.contains("m=19456,t=2,p=1"));
                assert_eq!(
                    h.verify("old password here", Some(&new)).await.unwrap(),
                    Verdict::Right
                );
            }
            other => panic!("expected a rehash, got {other:?}"),
        }
        assert_eq!(
            h.verify("not it", Some(&weak)).await.unwrap(),
            Verdict::Wrong
        );
    }
}
