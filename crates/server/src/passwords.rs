//! Password hashing: Argon2id with OWASP's parameters (m = 19 MiB, t = 2,
//! p = 1), about 16 ms a hash here.

use argon2::password_hash::phc::PasswordHash;
use argon2::{Algorithm, Argon2, Params, PasswordHasher, PasswordVerifier, Version};

fn hasher() -> Argon2<'static> {
    // The parameters are constants within Argon2's bounds, so this cannot
    // fail; fall back to the library default (also Argon2id) regardless.
    match Params::new(19_456, 2, 1, None) {
        Ok(params) => Argon2::new(Algorithm::Argon2id, Version::V0x13, params),
        Err(_) => Argon2::default(),
    }
}

/// The PHC string (`$argon2id$v=19$m=19456,t=2,p=1$...`) for a password.
pub fn hash(password: &str) -> Result<String, String> {
    hasher()
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| e.to_string())
}

/// Does the password match the stored PHC string? A malformed hash is a no.
pub fn verify(password: &str, phc: &str) -> bool {
    match PasswordHash::new(phc) {
        Ok(parsed) => hasher()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok(),
        Err(_) => false,
    }
}

/// A PHC string of a password nobody has, checked when the username is
/// unknown so that the answer takes as long as for a known one.
fn decoy() -> &'static str {
    static DECOY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DECOY.get_or_init(|| hash("portcullis decoy password").unwrap_or_default())
}

/// A fixed set of threads that hash passwords, with a bounded queue. A
/// flood of logins waits here (or is turned away when the queue is full)
/// instead of occupying the threads that serve database work and other
/// endpoints.
pub struct HashPool {
    jobs: std::sync::mpsc::SyncSender<Job>,
}

enum Job {
    Verify {
        password: String,
        phc: Option<String>,
        reply: tokio::sync::oneshot::Sender<bool>,
    },
    /// Hash a new password (the admin API sets passwords).
    Hash {
        password: String,
        reply: tokio::sync::oneshot::Sender<Result<String, String>>,
    },
}

/// The pool is full or gone: try again shortly.
#[derive(Debug)]
pub struct Busy;

impl HashPool {
    pub fn new(workers: usize, queue: usize) -> HashPool {
        let (jobs, rx) = std::sync::mpsc::sync_channel::<Job>(queue);
        let rx = std::sync::Arc::new(std::sync::Mutex::new(rx));
        for i in 0..workers.max(1) {
            let rx = std::sync::Arc::clone(&rx);
            let spawned = std::thread::Builder::new()
                .name(format!("argon2-{i}"))
                .spawn(move || loop {
                    let job = match rx.lock() {
                        Ok(guard) => guard.recv(),
                        Err(_) => return,
                    };
                    let Ok(job) = job else { return };
                    match job {
                        Job::Verify {
                            password,
                            phc,
                            reply,
                        } => {
                            let ok = match &phc {
                                Some(phc) => verify(&password, phc),
                                None => {
                                    verify(&password, decoy());
                                    false
                                }
                            };
                            let _ = reply.send(ok);
                        }
                        Job::Hash { password, reply } => {
                            let _ = reply.send(hash(&password));
                        }
                    }
                });
            if let Err(e) = spawned {
                tracing::error!(cause = %e, "could not start a password hashing thread");
            }
        }
        HashPool { jobs }
    }

    /// Does `password` match `phc`? With no hash (unknown user) the answer
    /// is no, after the same work.
    pub async fn verify(&self, password: String, phc: Option<String>) -> Result<bool, Busy> {
        let (reply, rx) = tokio::sync::oneshot::channel();
        self.jobs
            .try_send(Job::Verify {
                password,
                phc,
                reply,
            })
            .map_err(|_| Busy)?;
        rx.await.map_err(|_| Busy)
    }

    /// The Argon2id PHC string of a new password, computed on the pool
    /// (never on an async thread). The inner error is Argon2's, without
    /// the password.
    pub async fn hash(&self, password: String) -> Result<Result<String, String>, Busy> {
        let (reply, rx) = tokio::sync::oneshot::channel();
        self.jobs
            .try_send(Job::Hash { password, reply })
            .map_err(|_| Busy)?;
        rx.await.map_err(|_| Busy)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn argon2id_round_trip() {
        let h = hash("correct horse").unwrap();
        assert!(h.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        assert!(verify("correct horse", &h));
        assert!(!verify("wrong horse", &h));
        assert!(!verify("correct horse", "not a hash"));
    }

    #[test]
    fn pool_verifies_and_refuses_unknown_users() {
        actix_web::rt::System::new().block_on(async {
            let pool = HashPool::new(1, 4);
            let h = hash("pw").unwrap();
            assert!(pool.verify("pw".into(), Some(h.clone())).await.unwrap());
            assert!(!pool.verify("nope".into(), Some(h)).await.unwrap());
            assert!(!pool.verify("pw".into(), None).await.unwrap());
            let phc = pool.hash("new pw".into()).await.unwrap().unwrap();
            assert!(pool.verify("new pw".into(), Some(phc)).await.unwrap());
        });
    }
}
