//! Password hashing: Argon2id with OWASP's parameters (m = 19 MiB, t = 2,
//! p = 1), about 16 ms a hash here.
//!
//! Each hashing thread owns its Argon2 memory ([`Memory`]): 19 MiB allocated
//! once and reused for every hash. Allocating it per hash (what
//! `PasswordHasher::hash_password` does) left every freed block resident in
//! the allocator's heaps (RSS ~250 MB after a dozen logins) and paid ~4,900
//! page faults per hash; docs/performance.md, change 3.

use argon2::password_hash::phc::{Output, ParamsString, PasswordHash, Salt};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use subtle::ConstantTimeEq;

/// OWASP's Argon2id parameters: m = 19 MiB, t = 2, p = 1.
const M_COST: u32 = 19_456;
const T_COST: u32 = 2;
const P_COST: u32 = 1;
/// Stored hashes with more memory than this many times ours (imported from
/// elsewhere) are checked with memory of their own, not the thread's.
const MAX_REUSED_FACTOR: usize = 4;

fn params() -> Params {
    // The parameters are constants within Argon2's bounds, so this cannot
    // fail; fall back to the library default (also Argon2id) regardless.
    Params::new(M_COST, T_COST, P_COST, None).unwrap_or_default()
}

/// The capacity the working memory is reserved with, in 1 KiB blocks:
/// 33 MiB, above glibc's largest threshold for giving an allocation a
/// mapping of its own (32 MiB; a freed 19 MiB block raises the threshold to
/// 19 MiB, so the next one would come from the thread's heap and stay in the
/// RSS after it is freed). Reserved this large, the memory is always a
/// mapping that freeing unmaps; only the 19 MiB written are resident.
const MAPPED_BLOCKS: usize = 33 * 1024;

/// Argon2 working memory, allocated on first use and kept while its thread
/// is busy ([`HashPool`] releases it when idle).
pub struct Memory {
    blocks: Vec<Block>,
}

impl Default for Memory {
    fn default() -> Self {
        Memory::new()
    }
}

impl Memory {
    pub const fn new() -> Memory {
        Memory { blocks: Vec::new() }
    }

    /// Bytes held.
    fn bytes(&self) -> usize {
        self.blocks.len() * std::mem::size_of::<Block>()
    }

    /// Give the memory back to the operating system (see [`MAPPED_BLOCKS`]).
    fn release(&mut self) {
        self.blocks = Vec::new();
    }

    /// Fill `out` with Argon2 of `password` and `salt` under `argon`, in
    /// this memory (grown once to what the parameters need).
    fn run(
        &mut self,
        argon: &Argon2<'_>,
        count: usize,
        password: &[u8],
        salt: &[u8],
        out: &mut [u8],
    ) -> Result<(), argon2::Error> {
        if count > MAX_REUSED_FACTOR * params().block_count() {
            // An outsized imported hash: its own memory, freed after.
            let mut own = vec![Block::new(); count];
            return argon.hash_password_into_with_memory(password, salt, out, &mut own);
        }
        if self.blocks.len() < count {
            let mut blocks = Vec::with_capacity(count.max(MAPPED_BLOCKS));
            blocks.resize(count, Block::new());
            self.blocks = blocks;
        }
        argon.hash_password_into_with_memory(password, salt, out, &mut self.blocks[..count])
    }

    /// The PHC string (`$argon2id$v=19$m=19456,t=2,p=1$...`) for a password.
    pub fn hash(&mut self, password: &str) -> Result<String, String> {
        let params = params();
        let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone());
        let salt_bytes: [u8; Salt::RECOMMENDED_LENGTH] = rand::random();
        let salt = Salt::new(&salt_bytes).map_err(|e| e.to_string())?;
        let mut out = [0u8; Params::DEFAULT_OUTPUT_LEN];
        self.run(
            &argon,
            params.block_count(),
            password.as_bytes(),
            &salt_bytes,
            &mut out,
        )
        .map_err(|e| e.to_string())?;
        let phc = PasswordHash {
            algorithm: Algorithm::Argon2id.ident(),
            version: Some(Version::V0x13.into()),
            params: ParamsString::try_from(&params).map_err(|e| e.to_string())?,
            salt: Some(salt),
            hash: Some(Output::new(&out).map_err(|e| e.to_string())?),
        };
        Ok(phc.to_string())
    }

    /// Does the password match the stored PHC string (any Argon2 variant,
    /// version and parameters it names)? A malformed hash is a no. The
    /// digests are compared in constant time.
    pub fn verify(&mut self, password: &str, phc: &str) -> bool {
        let Ok(parsed) = PasswordHash::new(phc) else {
            return false;
        };
        let (Some(salt), Some(expected)) = (&parsed.salt, &parsed.hash) else {
            return false;
        };
        let Ok(algorithm) = Algorithm::try_from(parsed.algorithm.as_str()) else {
            return false;
        };
        let Ok(version) = Version::try_from(parsed.version.unwrap_or(Version::V0x13.into())) else {
            return false;
        };
        let Ok(params) = Params::try_from(&parsed) else {
            return false;
        };
        let count = params.block_count();
        let argon = Argon2::new(algorithm, version, params);
        let mut out = [0u8; Output::MAX_LENGTH];
        let Some(out) = out.get_mut(..expected.len()) else {
            return false;
        };
        if self
            .run(&argon, count, password.as_bytes(), salt.as_ref(), out)
            .is_err()
        {
            return false;
        }
        bool::from(out.ct_eq(expected.as_bytes()))
    }
}

/// The PHC string for a password, in memory of its own (the CLI; the
/// server hashes on its [`HashPool`]).
pub fn hash(password: &str) -> Result<String, String> {
    Memory::new().hash(password)
}

/// [`Memory::verify`] in memory of its own.
#[cfg(test)]
fn verify(password: &str, phc: &str) -> bool {
    Memory::new().verify(password, phc)
}

/// A PHC string of a password nobody has, checked when the username is
/// unknown so that the answer takes as long as for a known one. Made once,
/// in the calling thread's memory.
fn decoy(memory: &mut Memory) -> &'static str {
    static DECOY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DECOY.get_or_init(|| memory.hash("portcullis decoy password").unwrap_or_default())
}

/// How long a hashing thread keeps its Argon2 memory with nothing to hash.
pub const IDLE_RELEASE: std::time::Duration = std::time::Duration::from_secs(2);

/// A fixed set of threads that hash passwords, with a bounded queue. A
/// flood of logins waits here (or is turned away when the queue is full)
/// instead of occupying the threads that serve database work and other
/// endpoints. A thread idle for [`IDLE_RELEASE`] gives its Argon2 memory
/// back to the operating system: kept for good, the two threads' 2 x 19 MiB
/// stayed in the server's RSS through every later load that hashes nothing
/// (docs/performance.md, change 9).
pub struct HashPool {
    queue: std::sync::Arc<Queue>,
}

struct Queue {
    state: std::sync::Mutex<Pending>,
    ready: std::sync::Condvar,
    capacity: usize,
    /// Bytes of Argon2 memory the threads hold now.
    held: std::sync::atomic::AtomicUsize,
}

struct Pending {
    jobs: std::collections::VecDeque<Job>,
    /// The pool was dropped: the threads end.
    closed: bool,
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

impl Queue {
    /// The next job; `None` when the pool is gone. Waits at most `idle` for
    /// one while `memory` is held, and releases it then.
    fn next(&self, memory: &mut Memory, idle: std::time::Duration) -> Option<Job> {
        use std::sync::atomic::Ordering;
        let mut pending = self.state.lock().ok()?;
        loop {
            if let Some(job) = pending.jobs.pop_front() {
                return Some(job);
            }
            if pending.closed {
                return None;
            }
            if memory.bytes() == 0 {
                pending = self.ready.wait(pending).ok()?;
                continue;
            }
            let (guard, waited) = self.ready.wait_timeout(pending, idle).ok()?;
            pending = guard;
            if waited.timed_out() && pending.jobs.is_empty() {
                self.held.fetch_sub(memory.bytes(), Ordering::Relaxed);
                memory.release();
            }
        }
    }

    fn push(&self, job: Job) -> Result<(), Busy> {
        let mut pending = self.state.lock().map_err(|_| Busy)?;
        if pending.closed || pending.jobs.len() >= self.capacity {
            return Err(Busy);
        }
        pending.jobs.push_back(job);
        self.ready.notify_one();
        Ok(())
    }
}

impl HashPool {
    pub fn new(workers: usize, queue: usize) -> HashPool {
        HashPool::with_idle(workers, queue, IDLE_RELEASE)
    }

    /// [`HashPool::new`] with the time a thread keeps idle memory.
    pub fn with_idle(workers: usize, queue: usize, idle: std::time::Duration) -> HashPool {
        use std::sync::atomic::Ordering;
        let shared = std::sync::Arc::new(Queue {
            state: std::sync::Mutex::new(Pending {
                jobs: std::collections::VecDeque::new(),
                closed: false,
            }),
            ready: std::sync::Condvar::new(),
            capacity: queue.max(1),
            held: std::sync::atomic::AtomicUsize::new(0),
        });
        let mut started = 0;
        for i in 0..workers.max(1) {
            let q = std::sync::Arc::clone(&shared);
            let spawned = std::thread::Builder::new()
                .name(format!("argon2-{i}"))
                .spawn(move || {
                    let mut memory = Memory::new();
                    while let Some(job) = q.next(&mut memory, idle) {
                        let before = memory.bytes();
                        // Counted before the answer goes out.
                        let grown = |memory: &Memory| {
                            q.held.fetch_add(
                                memory.bytes().saturating_sub(before),
                                Ordering::Relaxed,
                            );
                        };
                        match job {
                            Job::Verify {
                                password,
                                phc,
                                reply,
                            } => {
                                let ok = match &phc {
                                    Some(phc) => memory.verify(&password, phc),
                                    None => {
                                        let decoy = decoy(&mut memory);
                                        memory.verify(&password, decoy);
                                        false
                                    }
                                };
                                grown(&memory);
                                let _ = reply.send(ok);
                            }
                            Job::Hash { password, reply } => {
                                let phc = memory.hash(&password);
                                grown(&memory);
                                let _ = reply.send(phc);
                            }
                        }
                    }
                    q.held.fetch_sub(memory.bytes(), Ordering::Relaxed);
                });
            match spawned {
                Ok(_) => started += 1,
                Err(e) => tracing::error!(cause = %e, "could not start a password hashing thread"),
            }
        }
        // No thread to take the jobs: every request is turned away (Busy)
        // rather than left waiting.
        if started == 0 {
            if let Ok(mut pending) = shared.state.lock() {
                pending.closed = true;
            }
        }
        HashPool { queue: shared }
    }

    /// Bytes of Argon2 memory the hashing threads hold now.
    pub fn held_bytes(&self) -> usize {
        self.queue.held.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Does `password` match `phc`? With no hash (unknown user) the answer
    /// is no, after the same work.
    pub async fn verify(&self, password: String, phc: Option<String>) -> Result<bool, Busy> {
        let (reply, rx) = tokio::sync::oneshot::channel();
        self.queue.push(Job::Verify {
            password,
            phc,
            reply,
        })?;
        rx.await.map_err(|_| Busy)
    }

    /// The Argon2id PHC string of a new password, computed on the pool
    /// (never on an async thread). The inner error is Argon2's, without
    /// the password.
    pub async fn hash(&self, password: String) -> Result<Result<String, String>, Busy> {
        let (reply, rx) = tokio::sync::oneshot::channel();
        self.queue.push(Job::Hash { password, reply })?;
        rx.await.map_err(|_| Busy)
    }
}

impl Drop for HashPool {
    fn drop(&mut self) {
        if let Ok(mut pending) = self.queue.state.lock() {
            pending.closed = true;
        }
        self.queue.ready.notify_all();
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

    /// Hashes made by the library's own allocating path (how every stored
    /// hash so far was made), with ours or other parameters and variants,
    /// verify in reused memory; and ours verify there.
    #[test]
    fn reused_memory_agrees_with_the_library() {
        use argon2::password_hash::{PasswordHasher, PasswordVerifier};
        let mut memory = Memory::new();
        for (alg, m, t) in [
            (Algorithm::Argon2id, M_COST, T_COST),
            (Algorithm::Argon2i, 4096, 3),
            (Algorithm::Argon2d, 8, 1),
            // More than MAX_REUSED_FACTOR times ours: memory of its own.
            (Algorithm::Argon2id, 5 * M_COST, 1),
        ] {
            let argon = Argon2::new(alg, Version::V0x13, Params::new(m, t, 1, None).unwrap());
            let theirs = argon.hash_password(b"pw").unwrap().to_string();
            assert!(memory.verify("pw", &theirs), "{theirs}");
            assert!(!memory.verify("pW", &theirs), "{theirs}");
        }
        assert_eq!(
            memory.blocks.len(),
            19_456,
            "grown once, never to the outsized one"
        );
        let ours = memory.hash("pw").unwrap();
        let library = Argon2::default();
        assert!(library.verify_password(b"pw", ours.as_str()).is_ok());
        assert!(library.verify_password(b"pw!", ours.as_str()).is_err());
        // A fresh salt each time.
        assert_ne!(memory.hash("pw").unwrap(), ours);
        for bad in [
            "",
            "$argon2id$v=19$m=19456,t=2,p=1$",
            "$scrypt$ln=1,r=8,p=1$c2FsdHNhbHQ$aGFzaA",
        ] {
            assert!(!memory.verify("pw", bad), "{bad}");
        }
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

    /// A thread idle for the pool's idle time gives its Argon2 memory back,
    /// and hashes again afterwards.
    #[test]
    fn idle_threads_release_their_memory() {
        let per_thread = 19_456 * 1024;
        actix_web::rt::System::new().block_on(async {
            let pool = HashPool::with_idle(1, 4, std::time::Duration::from_secs(1));
            assert_eq!(pool.held_bytes(), 0);
            let h = hash("pw").unwrap();
            assert!(pool.verify("pw".into(), Some(h.clone())).await.unwrap());
            assert_eq!(pool.held_bytes(), per_thread);
            let mut waited = 0;
            while pool.held_bytes() != 0 && waited < 400 {
                std::thread::sleep(std::time::Duration::from_millis(25));
                waited += 1;
            }
            assert_eq!(pool.held_bytes(), 0, "released after 1 s idle");
            assert!(pool.verify("pw".into(), Some(h)).await.unwrap());
            assert_eq!(pool.held_bytes(), per_thread);
        });
        // Kept while busy: a pool that never idles that long keeps it.
        actix_web::rt::System::new().block_on(async {
            let pool = HashPool::with_idle(1, 4, std::time::Duration::from_secs(600));
            assert!(!pool.verify("pw".into(), None).await.unwrap());
            std::thread::sleep(std::time::Duration::from_millis(200));
            assert_eq!(pool.held_bytes(), per_thread);
        });
    }
}
