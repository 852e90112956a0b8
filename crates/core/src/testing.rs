//! Test doubles for core's ports: [`MemStore`] (every store trait over plain
//! vectors, keeping the rules of [`crate::ports`]), [`SeqRandom`]
//! (deterministic randomness), [`TestSigner`] (an unsigned, readable JWS),
//! and [`Harness`], which builds a [`Ctx`] for an explicit `now`.

use std::collections::HashMap;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::{json, Value};

use crate::clients::{new_client, ClientSpec};
use crate::error::OAuthError;
use crate::issuer::Issuer;
use crate::model::*;
use crate::params::Params;
use crate::ports::*;
use crate::tokens::{Ctx, GrantResult, Outcome, TokenPolicy, TokenResponse};

fn insert<T: Clone>(v: &mut Vec<T>, item: &T, dup: impl Fn(&T) -> bool) -> StoreResult<()> {
    if v.iter().any(dup) {
        return Err(StoreError::Conflict("duplicate key".into()));
    }
    v.push(item.clone());
    Ok(())
}

fn get<T: Clone>(v: &[T], f: impl Fn(&T) -> bool) -> StoreResult<Option<T>> {
    Ok(v.iter().find(|x| f(x)).cloned())
}

/// Apply `g` to the first row matching `f` (the `WHERE` clause): `true` if one did.
fn update<T>(v: &mut [T], f: impl Fn(&T) -> bool, g: impl FnOnce(&mut T)) -> StoreResult<bool> {
    Ok(v.iter_mut().find(|x| f(x)).map(g).is_some())
}

/// A throttle row, as the storage crate keeps it: a fixed window opened by
/// the first failure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempts {
    pub failures: u32,
    pub window_start: i64,
    pub blocked_until: Option<i64>,
}

/// Every port in memory. Fields are public so tests can look at (or tamper
/// with) what was stored.
#[derive(Debug, Default)]
pub struct MemStore {
    pub clients: Vec<Client>,
    pub users: Vec<User>,
    pub keys: Vec<SigningKey>,
    pub sessions: Vec<Session>,
    pub browser_sessions: Vec<BrowserSession>,
    pub codes: Vec<AuthorizationCode>,
    pub access_tokens: Vec<AccessToken>,
    pub refresh_tokens: Vec<RefreshToken>,
    pub consents: Vec<Consent>,
    pub pats: Vec<PersonalAccessToken>,
    pub events: Vec<AuditEvent>,
    pub secrets: HashMap<String, String>,
    pub attempts: HashMap<String, Attempts>,
    pub initial_access_tokens: Vec<InitialAccessToken>,
    /// `(user_id, code_hash, used_at)`.
    pub recovery_codes: Vec<(String, String, Option<i64>)>,
    pub device_codes: Vec<DeviceCode>,
    pub pushed_requests: Vec<PushedRequest>,
    /// `key -> expires_at`.
    pub used_jtis: HashMap<String, i64>,
    pub passkeys: Vec<Passkey>,
}

impl MemStore {
    pub fn events_of(&self, kind: &str) -> Vec<&AuditEvent> {
        self.events.iter().filter(|e| e.kind == kind).collect()
    }

    pub fn session(&self, id: &str) -> &Session {
        self.sessions
            .iter()
            .find(|s| s.id == id)
            .unwrap_or_else(|| panic!("no session {id}"))
    }

    pub fn tokens_of_session(&self, id: &str) -> (Vec<&AccessToken>, Vec<&RefreshToken>) {
        let sid = Some(id.to_string());
        (
            self.access_tokens
                .iter()
                .filter(|t| t.session_id == sid)
                .collect(),
            self.refresh_tokens
                .iter()
                .filter(|t| t.session_id == id)
                .collect(),
        )
    }
}

impl ClientStore for MemStore {
    fn insert_client(&mut self, c: &Client) -> StoreResult<()> {
        insert(&mut self.clients, c, |x| x.id == c.id)
    }
    fn get_client(&mut self, id: &str) -> StoreResult<Option<Client>> {
        get(&self.clients, |x| x.id == id)
    }
    fn list_clients(&mut self) -> StoreResult<Vec<Client>> {
        Ok(self.clients.clone())
    }
    fn update_client(&mut self, c: &Client) -> StoreResult<bool> {
        update(&mut self.clients, |x| x.id == c.id, |x| *x = c.clone())
    }
    fn delete_client(&mut self, id: &str) -> StoreResult<bool> {
        let n = self.clients.len();
        self.clients.retain(|x| x.id != id);
        Ok(self.clients.len() != n)
    }
}

impl UserStore for MemStore {
    fn insert_user(&mut self, u: &User) -> StoreResult<()> {
        insert(&mut self.users, u, |x| {
            x.id == u.id || x.username == u.username
        })
    }
    fn get_user(&mut self, id: &str) -> StoreResult<Option<User>> {
        get(&self.users, |x| x.id == id)
    }
    fn get_user_by_username(&mut self, username: &str) -> StoreResult<Option<User>> {
        get(&self.users, |x| x.username == username)
    }
    fn list_users(&mut self) -> StoreResult<Vec<User>> {
        Ok(self.users.clone())
    }
    fn update_user(&mut self, u: &User) -> StoreResult<bool> {
        update(&mut self.users, |x| x.id == u.id, |x| *x = u.clone())
    }
    fn use_totp_step(&mut self, user_id: &str, step: i64) -> StoreResult<bool> {
        let fresh = |x: &User| x.id == user_id && x.totp_last_step.is_none_or(|l| l < step);
        update(&mut self.users, fresh, |x| x.totp_last_step = Some(step))
    }
}

impl KeyStore for MemStore {
    fn insert_key(&mut self, k: &SigningKey) -> StoreResult<()> {
        insert(&mut self.keys, k, |x| x.kid == k.kid)
    }
    fn lock_keys(&mut self) -> StoreResult<()> {
        Ok(())
    }
    fn list_keys(&mut self) -> StoreResult<Vec<SigningKey>> {
        let mut keys = self.keys.clone();
        keys.sort_by_key(|k| k.created_at);
        Ok(keys)
    }
    fn set_key_retires_at(&mut self, kid: &str, retires_at: i64) -> StoreResult<bool> {
        update(
            &mut self.keys,
            |x| x.kid == kid,
            |x| x.retires_at = Some(retires_at),
        )
    }
}

impl SessionStore for MemStore {
    fn insert_session(&mut self, s: &Session) -> StoreResult<()> {
        insert(&mut self.sessions, s, |x| x.id == s.id)
    }
    fn get_session(&mut self, id: &str) -> StoreResult<Option<Session>> {
        get(&self.sessions, |x| x.id == id)
    }
    fn list_live_sessions(&mut self, user_id: &str, now: i64) -> StoreResult<Vec<Session>> {
        let mut live: Vec<Session> = self
            .sessions
            .iter()
            .filter(|s| s.user_id.as_deref() == Some(user_id))
            .filter(|s| s.revoked_at.is_none() && s.expires_at > now)
            .cloned()
            .collect();
        live.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        Ok(live)
    }
    fn touch_session(&mut self, id: &str, now: i64) -> StoreResult<bool> {
        let live = |x: &Session| x.id == id && x.revoked_at.is_none();
        update(&mut self.sessions, live, |x| x.last_used_at = now)
    }
    fn revoke_session(&mut self, id: &str, now: i64) -> StoreResult<bool> {
        let live = |x: &Session| x.id == id && x.revoked_at.is_none();
        update(&mut self.sessions, live, |x| x.revoked_at = Some(now))
    }
}

impl BrowserSessionStore for MemStore {
    fn insert_browser_session(&mut self, s: &BrowserSession) -> StoreResult<()> {
        insert(&mut self.browser_sessions, s, |x| x.id_hash == s.id_hash)
    }
    fn get_browser_session(&mut self, id_hash: &str) -> StoreResult<Option<BrowserSession>> {
        get(&self.browser_sessions, |x| x.id_hash == id_hash)
    }
    fn revoke_browser_session(&mut self, id_hash: &str, now: i64) -> StoreResult<bool> {
        let live = |x: &BrowserSession| x.id_hash == id_hash && x.revoked_at.is_none();
        update(&mut self.browser_sessions, live, |x| {
            x.revoked_at = Some(now)
        })
    }
    fn touch_browser_session(&mut self, id_hash: &str, now: i64) -> StoreResult<bool> {
        let live = |x: &BrowserSession| x.id_hash == id_hash && x.revoked_at.is_none();
        update(&mut self.browser_sessions, live, |x| x.last_seen_at = now)
    }
    fn list_live_browser_sessions(
        &mut self,
        user_id: &str,
        now: i64,
    ) -> StoreResult<Vec<BrowserSession>> {
        let mut live: Vec<BrowserSession> = self
            .browser_sessions
            .iter()
            .filter(|s| s.user_id == user_id && s.revoked_at.is_none() && s.expires_at > now)
            .cloned()
            .collect();
        live.sort_by(|a, b| (b.created_at, &b.id_hash).cmp(&(a.created_at, &a.id_hash)));
        Ok(live)
    }
    fn revoke_user_browser_sessions(
        &mut self,
        user_id: &str,
        except: Option<&str>,
        now: i64,
    ) -> StoreResult<usize> {
        let mut n = 0;
        for s in &mut self.browser_sessions {
            if s.user_id == user_id && s.revoked_at.is_none() && Some(s.id_hash.as_str()) != except
            {
                s.revoked_at = Some(now);
                n += 1;
            }
        }
        Ok(n)
    }
}

impl RecoveryCodeStore for MemStore {
    fn replace_recovery_codes(
        &mut self,
        user_id: &str,
        code_hashes: &[String],
        _now: i64,
    ) -> StoreResult<()> {
        self.recovery_codes.retain(|(u, _, _)| u != user_id);
        for h in code_hashes {
            self.recovery_codes
                .push((user_id.to_string(), h.clone(), None));
        }
        Ok(())
    }
    fn use_recovery_code(&mut self, user_id: &str, code_hash: &str, now: i64) -> StoreResult<bool> {
        let unused =
            |x: &(String, String, Option<i64>)| x.0 == user_id && x.1 == code_hash && x.2.is_none();
        update(&mut self.recovery_codes, unused, |x| x.2 = Some(now))
    }
    fn count_recovery_codes(&mut self, user_id: &str) -> StoreResult<usize> {
        Ok(self
            .recovery_codes
            .iter()
            .filter(|(u, _, used)| u == user_id && used.is_none())
            .count())
    }
    fn delete_recovery_codes(&mut self, user_id: &str) -> StoreResult<usize> {
        let n = self.recovery_codes.len();
        self.recovery_codes.retain(|(u, _, _)| u != user_id);
        Ok(n - self.recovery_codes.len())
    }
}

impl PasskeyStore for MemStore {
    fn insert_passkey(&mut self, p: &Passkey) -> StoreResult<()> {
        insert(&mut self.passkeys, p, |x| {
            x.id == p.id || x.credential_id == p.credential_id
        })
    }
    fn list_passkeys(&mut self, user_id: &str) -> StoreResult<Vec<Passkey>> {
        let mut v: Vec<Passkey> = self
            .passkeys
            .iter()
            .filter(|p| p.user_id == user_id)
            .cloned()
            .collect();
        v.sort_by_key(|p| p.created_at);
        Ok(v)
    }
    fn get_passkey_by_credential_id(
        &mut self,
        credential_id: &str,
    ) -> StoreResult<Option<Passkey>> {
        get(&self.passkeys, |p| p.credential_id == credential_id)
    }
    fn rename_passkey(&mut self, user_id: &str, id: &str, name: &str) -> StoreResult<bool> {
        update(
            &mut self.passkeys,
            |p| p.user_id == user_id && p.id == id,
            |p| p.name = name.to_string(),
        )
    }
    fn record_passkey_use(&mut self, id: &str, credential: &str, now: i64) -> StoreResult<bool> {
        update(
            &mut self.passkeys,
            |p| p.id == id,
            |p| {
                p.credential = credential.to_string();
                p.last_used_at = Some(now);
            },
        )
    }
    fn delete_passkey(&mut self, user_id: &str, id: &str) -> StoreResult<bool> {
        let n = self.passkeys.len();
        self.passkeys
            .retain(|p| !(p.user_id == user_id && p.id == id));
        Ok(n != self.passkeys.len())
    }
    fn count_passkeys(&mut self, user_id: &str) -> StoreResult<usize> {
        Ok(self
            .passkeys
            .iter()
            .filter(|p| p.user_id == user_id)
            .count())
    }
}

impl DeviceCodeStore for MemStore {
    fn insert_device_code(&mut self, c: &DeviceCode) -> StoreResult<()> {
        insert(&mut self.device_codes, c, |x| {
            x.device_code_hash == c.device_code_hash || x.user_code_hash == c.user_code_hash
        })
    }
    fn get_device_code(&mut self, hash: &str) -> StoreResult<Option<DeviceCode>> {
        get(&self.device_codes, |x| x.device_code_hash == hash)
    }
    fn get_device_code_by_user_code(&mut self, hash: &str) -> StoreResult<Option<DeviceCode>> {
        get(&self.device_codes, |x| x.user_code_hash == hash)
    }
    fn decide_device_code(
        &mut self,
        hash: &str,
        user_id: &str,
        approval: Option<(i64, &[String])>,
        now: i64,
    ) -> StoreResult<bool> {
        let open = |x: &DeviceCode| {
            x.device_code_hash == hash
                && x.approved_at.is_none()
                && x.denied_at.is_none()
                && x.expires_at > now
        };
        update(&mut self.device_codes, open, |x| {
            x.user_id = Some(user_id.into());
            match approval {
                Some((auth_time, amr)) => {
                    x.auth_time = Some(auth_time);
                    x.amr = amr.to_vec();
                    x.approved_at = Some(now);
                }
                None => x.denied_at = Some(now),
            }
        })
    }
    fn record_device_poll(&mut self, hash: &str, now: i64, interval: i64) -> StoreResult<bool> {
        update(
            &mut self.device_codes,
            |x| x.device_code_hash == hash,
            |x| {
                x.last_polled_at = Some(now);
                x.interval = interval;
            },
        )
    }
    fn consume_device_code(&mut self, hash: &str, now: i64) -> StoreResult<bool> {
        let unused = |x: &DeviceCode| x.device_code_hash == hash && x.consumed_at.is_none();
        update(&mut self.device_codes, unused, |x| {
            x.consumed_at = Some(now)
        })
    }
}

impl PushedRequestStore for MemStore {
    fn insert_pushed_request(&mut self, r: &PushedRequest) -> StoreResult<()> {
        insert(&mut self.pushed_requests, r, |x| x.uri_hash == r.uri_hash)
    }
    fn get_pushed_request(&mut self, hash: &str) -> StoreResult<Option<PushedRequest>> {
        get(&self.pushed_requests, |x| x.uri_hash == hash)
    }
    fn use_pushed_request(&mut self, hash: &str, now: i64) -> StoreResult<bool> {
        let open =
            |x: &PushedRequest| x.uri_hash == hash && x.used_at.is_none() && x.expires_at > now;
        update(&mut self.pushed_requests, open, |x| x.used_at = Some(now))
    }
}

impl JtiStore for MemStore {
    fn consume_jti(&mut self, key: &str, expires_at: i64) -> StoreResult<bool> {
        if self.used_jtis.contains_key(key) {
            return Ok(false);
        }
        self.used_jtis.insert(key.to_string(), expires_at);
        Ok(true)
    }
}

impl CodeStore for MemStore {
    fn insert_code(&mut self, c: &AuthorizationCode) -> StoreResult<()> {
        insert(&mut self.codes, c, |x| x.code_hash == c.code_hash)
    }
    fn get_code(&mut self, code_hash: &str) -> StoreResult<Option<AuthorizationCode>> {
        get(&self.codes, |x| x.code_hash == code_hash)
    }
    fn consume_code(&mut self, code_hash: &str, now: i64) -> StoreResult<bool> {
        let unused = |x: &AuthorizationCode| x.code_hash == code_hash && x.consumed_at.is_none();
        update(&mut self.codes, unused, |x| x.consumed_at = Some(now))
    }
    fn set_code_session(&mut self, code_hash: &str, session_id: &str) -> StoreResult<bool> {
        update(
            &mut self.codes,
            |x| x.code_hash == code_hash,
            |x| x.session_id = Some(session_id.into()),
        )
    }

    fn sessions_of_browser_session(&mut self, id_hash: &str) -> StoreResult<Vec<String>> {
        let mut ids: Vec<String> = self
            .codes
            .iter()
            .filter(|c| c.browser_session_id.as_deref() == Some(id_hash))
            .filter_map(|c| c.session_id.clone())
            .collect();
        ids.dedup();
        Ok(ids)
    }
}

impl TokenStore for MemStore {
    fn insert_access_token(&mut self, t: &AccessToken) -> StoreResult<()> {
        insert(&mut self.access_tokens, t, |x| {
            x.jti == t.jti || (t.token_hash.is_some() && x.token_hash == t.token_hash)
        })
    }
    fn get_access_token_by_jti(&mut self, jti: &str) -> StoreResult<Option<AccessToken>> {
        get(&self.access_tokens, |x| x.jti == jti)
    }
    fn get_access_token_by_hash(&mut self, token_hash: &str) -> StoreResult<Option<AccessToken>> {
        get(&self.access_tokens, |x| {
            x.token_hash.as_deref() == Some(token_hash)
        })
    }
    fn revoke_access_token(&mut self, jti: &str, now: i64) -> StoreResult<bool> {
        let live = |x: &AccessToken| x.jti == jti && x.revoked_at.is_none();
        update(&mut self.access_tokens, live, |x| x.revoked_at = Some(now))
    }
    fn insert_refresh_token(&mut self, t: &RefreshToken) -> StoreResult<()> {
        insert(&mut self.refresh_tokens, t, |x| {
            x.token_hash == t.token_hash
        })
    }
    fn get_refresh_token(&mut self, token_hash: &str) -> StoreResult<Option<RefreshToken>> {
        get(&self.refresh_tokens, |x| x.token_hash == token_hash)
    }
    fn consume_refresh_token(&mut self, token_hash: &str, now: i64) -> StoreResult<bool> {
        let unused = |x: &RefreshToken| x.token_hash == token_hash && x.consumed_at.is_none();
        update(&mut self.refresh_tokens, unused, |x| {
            x.consumed_at = Some(now)
        })
    }
    fn revoke_session_tokens(&mut self, session_id: &str, now: i64) -> StoreResult<usize> {
        let mut n = 0;
        for t in &mut self.access_tokens {
            if t.session_id.as_deref() == Some(session_id) && t.revoked_at.is_none() {
                t.revoked_at = Some(now);
                n += 1;
            }
        }
        for t in &mut self.refresh_tokens {
            if t.session_id == session_id && t.revoked_at.is_none() {
                t.revoked_at = Some(now);
                n += 1;
            }
        }
        Ok(n)
    }
}

impl ConsentStore for MemStore {
    fn upsert_consent(&mut self, c: &Consent) -> StoreResult<()> {
        self.consents
            .retain(|x| (&x.user_id, &x.client_id) != (&c.user_id, &c.client_id));
        self.consents.push(c.clone());
        Ok(())
    }
    fn get_consent(&mut self, user_id: &str, client_id: &str) -> StoreResult<Option<Consent>> {
        get(&self.consents, |x| {
            x.user_id == user_id && x.client_id == client_id
        })
    }
    fn delete_consent(&mut self, user_id: &str, client_id: &str) -> StoreResult<bool> {
        let n = self.consents.len();
        self.consents
            .retain(|x| !(x.user_id == user_id && x.client_id == client_id));
        Ok(self.consents.len() != n)
    }
    fn list_consents(&mut self, user_id: &str) -> StoreResult<Vec<Consent>> {
        let mut v: Vec<Consent> = self
            .consents
            .iter()
            .filter(|c| c.user_id == user_id)
            .cloned()
            .collect();
        v.sort_by(|a, b| a.client_id.cmp(&b.client_id));
        Ok(v)
    }
}

impl PatStore for MemStore {
    fn insert_pat(&mut self, p: &PersonalAccessToken) -> StoreResult<()> {
        insert(&mut self.pats, p, |x| {
            x.id == p.id || x.token_hash == p.token_hash
        })
    }
    fn get_pat_by_hash(&mut self, token_hash: &str) -> StoreResult<Option<PersonalAccessToken>> {
        get(&self.pats, |x| x.token_hash == token_hash)
    }
    fn list_pats(&mut self, user_id: &str) -> StoreResult<Vec<PersonalAccessToken>> {
        Ok(self
            .pats
            .iter()
            .filter(|p| p.user_id == user_id)
            .cloned()
            .collect())
    }
    fn set_pat_disabled(&mut self, id: &str, disabled: bool) -> StoreResult<bool> {
        update(&mut self.pats, |x| x.id == id, |x| x.disabled = disabled)
    }
    fn delete_pat(&mut self, id: &str) -> StoreResult<bool> {
        let n = self.pats.len();
        self.pats.retain(|x| x.id != id);
        Ok(self.pats.len() != n)
    }
    fn get_pat(&mut self, id: &str) -> StoreResult<Option<PersonalAccessToken>> {
        get(&self.pats, |x| x.id == id)
    }
    fn touch_pats(&mut self, uses: &[(String, i64)]) -> StoreResult<usize> {
        let mut n = 0;
        for (id, at) in uses {
            let older =
                |x: &PersonalAccessToken| &x.id == id && x.last_used_at.is_none_or(|l| l < *at);
            if update(&mut self.pats, older, |x| x.last_used_at = Some(*at))? {
                n += 1;
            }
        }
        Ok(n)
    }
}

impl AuditStore for MemStore {
    fn append_event(&mut self, e: &AuditEvent) -> StoreResult<()> {
        insert(&mut self.events, e, |x| x.id == e.id)
    }
    fn recent_events(&mut self, limit: i64) -> StoreResult<Vec<AuditEvent>> {
        let mut v = self.events.clone();
        v.sort_by(|a, b| (b.at, &b.id).cmp(&(a.at, &a.id)));
        v.truncate(usize::try_from(limit.max(0)).unwrap_or(usize::MAX));
        Ok(v)
    }
}

impl SecretStore for MemStore {
    fn get_or_insert_secret(&mut self, name: &str, candidate: &str, _: i64) -> StoreResult<String> {
        Ok(self
            .secrets
            .entry(name.into())
            .or_insert_with(|| candidate.into())
            .clone())
    }
}

impl ThrottleStore for MemStore {
    fn throttle_state(&mut self, key: &str, now: i64) -> StoreResult<ThrottleState> {
        Ok(match self.attempts.get(key) {
            None => ThrottleState::Clear,
            Some(a) => match a.blocked_until.filter(|&u| u > now) {
                Some(u) => ThrottleState::Blocked(u - now),
                None => ThrottleState::Failing,
            },
        })
    }
    fn record_failure(
        &mut self,
        key: &str,
        now: i64,
        window: i64,
        max_failures: u32,
        block: i64,
    ) -> StoreResult<()> {
        let a = self.attempts.entry(key.into()).or_insert(Attempts {
            failures: 0,
            window_start: now,
            blocked_until: None,
        });
        if a.window_start <= now.saturating_sub(window) {
            a.failures = 0;
            a.window_start = now;
        }
        a.failures += 1;
        if a.failures >= max_failures {
            a.blocked_until = Some(now.saturating_add(block));
        }
        Ok(())
    }
    fn clear_failures(&mut self, key: &str) -> StoreResult<()> {
        self.attempts.remove(key);
        Ok(())
    }
}

impl InitialAccessTokenStore for MemStore {
    fn insert_initial_access_token(&mut self, t: &InitialAccessToken) -> StoreResult<()> {
        insert(&mut self.initial_access_tokens, t, |x| {
            x.token_hash == t.token_hash
        })
    }
    fn use_initial_access_token(&mut self, token_hash: &str, now: i64) -> StoreResult<bool> {
        let live = |x: &InitialAccessToken| {
            x.token_hash == token_hash
                && x.expires_at.is_none_or(|e| e > now)
                && x.max_uses.is_none_or(|m| x.uses < m)
        };
        update(&mut self.initial_access_tokens, live, |x| x.uses += 1)
    }
}

/// Keyset paging as the SQL store does it: sorted by `key`, strictly past
/// `after` (`desc`: before it, newest first), at most `limit`.
fn page_of<T: Clone>(
    v: impl Iterator<Item = T>,
    key: impl Fn(&T) -> (i64, String),
    after: Option<&PageKey>,
    desc: bool,
    limit: i64,
) -> Vec<T> {
    let mut items: Vec<T> = v
        .filter(|x| {
            after.is_none_or(|a| {
                let k = key(x);
                let a = (a.at, a.id.clone());
                if desc {
                    k < a
                } else {
                    k > a
                }
            })
        })
        .collect();
    items.sort_by_key(|x| key(x));
    if desc {
        items.reverse();
    }
    items.truncate(usize::try_from(limit.max(0)).unwrap_or(usize::MAX));
    items
}

impl AdminStore for MemStore {
    fn list_clients_page(
        &mut self,
        after: Option<&PageKey>,
        limit: i64,
    ) -> StoreResult<Vec<Client>> {
        let key = |c: &Client| (c.created_at, c.id.clone());
        Ok(page_of(
            self.clients.iter().cloned(),
            key,
            after,
            false,
            limit,
        ))
    }
    fn list_users_page(&mut self, after: Option<&PageKey>, limit: i64) -> StoreResult<Vec<User>> {
        let key = |u: &User| (u.created_at, u.id.clone());
        Ok(page_of(
            self.users.iter().cloned(),
            key,
            after,
            false,
            limit,
        ))
    }
    fn delete_user(&mut self, id: &str) -> StoreResult<bool> {
        let n = self.users.len();
        self.users.retain(|x| x.id != id);
        if self.users.len() == n {
            return Ok(false);
        }
        // ON DELETE CASCADE, as the SQL schema declares.
        let mine = |u: &Option<String>| u.as_deref() == Some(id);
        let gone: Vec<String> = self
            .sessions
            .iter()
            .filter(|s| mine(&s.user_id))
            .map(|s| s.id.clone())
            .collect();
        self.sessions.retain(|s| !mine(&s.user_id));
        self.browser_sessions.retain(|s| s.user_id != id);
        self.recovery_codes.retain(|(u, _, _)| u != id);
        self.codes.retain(|c| c.user_id != id);
        self.access_tokens.retain(|t| {
            !mine(&t.user_id) && !t.session_id.as_ref().is_some_and(|s| gone.contains(s))
        });
        self.refresh_tokens
            .retain(|t| !mine(&t.user_id) && !gone.contains(&t.session_id));
        self.consents.retain(|c| c.user_id != id);
        self.pats.retain(|p| p.user_id != id);
        Ok(true)
    }
    fn list_live_sessions_page(
        &mut self,
        user_id: &str,
        now: i64,
        used_after: i64,
        after: Option<&PageKey>,
        limit: i64,
    ) -> StoreResult<Vec<Session>> {
        let live = self.sessions.iter().filter(|s| {
            s.user_id.as_deref() == Some(user_id)
                && s.revoked_at.is_none()
                && s.expires_at > now
                && s.last_used_at > used_after
        });
        let key = |s: &Session| (s.created_at, s.id.clone());
        Ok(page_of(live.cloned(), key, after, false, limit))
    }
    fn list_access_tokens_page(
        &mut self,
        owner: TokenOwner<'_>,
        after: Option<&PageKey>,
        limit: i64,
    ) -> StoreResult<Vec<TokenSummary>> {
        let of = |t: &&AccessToken| match owner {
            TokenOwner::User(u) => t.user_id.as_deref() == Some(u),
            TokenOwner::Client(c) => t.client_id == c,
        };
        let all = self
            .access_tokens
            .iter()
            .filter(of)
            .map(TokenSummary::of_access);
        let key = |t: &TokenSummary| (t.issued_at, t.id.clone());
        Ok(page_of(all, key, after, false, limit))
    }
    fn list_refresh_tokens_page(
        &mut self,
        owner: TokenOwner<'_>,
        after: Option<&PageKey>,
        limit: i64,
    ) -> StoreResult<Vec<TokenSummary>> {
        let of = |t: &&RefreshToken| match owner {
            TokenOwner::User(u) => t.user_id.as_deref() == Some(u),
            TokenOwner::Client(c) => t.client_id == c,
        };
        let all = self
            .refresh_tokens
            .iter()
            .filter(of)
            .map(TokenSummary::of_refresh);
        let key = |t: &TokenSummary| (t.issued_at, t.id.clone());
        Ok(page_of(all, key, after, false, limit))
    }
    fn list_events_page(
        &mut self,
        filter: &EventFilter,
        before: Option<&PageKey>,
        limit: i64,
    ) -> StoreResult<Vec<AuditEvent>> {
        let same = |want: &Option<String>, have: &Option<String>| {
            want.is_none() || want.as_deref() == have.as_deref()
        };
        let matching = self.events.iter().filter(|e| {
            filter.kind.as_ref().is_none_or(|k| *k == e.kind)
                && same(&filter.user_id, &e.user_id)
                && same(&filter.client_id, &e.client_id)
                && filter.since.is_none_or(|s| e.at >= s)
        });
        let key = |e: &AuditEvent| (e.at, e.id.clone());
        Ok(page_of(matching.cloned(), key, before, true, limit))
    }
}

/// Deterministic "randomness" (SplitMix64 over a counter): distinct values
/// for every call, the same sequence for the same seed.
#[derive(Debug, Clone)]
pub struct SeqRandom(pub u64);

impl SeqRandom {
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A value in `0..n` (`n > 0`).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }
}

impl Random for SeqRandom {
    fn fill(&mut self, buf: &mut [u8]) {
        for chunk in buf.chunks_mut(8) {
            let bytes = self.next_u64().to_le_bytes();
            chunk.copy_from_slice(&bytes[..chunk.len()]);
        }
    }
}

/// A signer whose tokens are `base64url(header).base64url(claims).c2ln`
/// (the signature is the constant `sig`): deterministic, and readable with
/// [`TestSigner::decode`].
#[derive(Debug, Clone, Copy, Default)]
pub struct TestSigner;

impl TestSigner {
    /// Header and claims of a token this signer made.
    pub fn decode(token: &str) -> (Value, Value) {
        let part = |s: &str| -> Value {
            let raw = URL_SAFE_NO_PAD.decode(s).expect("base64url part");
            serde_json::from_slice(&raw).expect("JSON part")
        };
        let parts: Vec<&str> = token.split('.').collect();
        assert_eq!(parts.len(), 3, "not a compact JWS: {token}");
        (part(parts[0]), part(parts[1]))
    }

    pub fn claims(token: &str) -> Value {
        Self::decode(token).1
    }
}

impl Signer for TestSigner {
    fn sign(&self, alg: SigningAlg, typ: &str, claims: &Value) -> Result<String, OAuthError> {
        let header = json!({"alg": alg.as_str(), "typ": typ, "kid": "test"});
        Ok(format!(
            "{}.{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string()),
            URL_SAFE_NO_PAD.encode("sig")
        ))
    }
}

/// A start time for tests (2023-11-14T22:13:20Z).
pub const T0: i64 = 1_700_000_000;
pub const ISSUER: &str = "https://auth.example.com/tenant";
pub const DERIVE_KEY: &[u8] = b"test-derive-key";

/// Short, round lifetimes so that expiry tests read easily.
pub fn policy() -> TokenPolicy {
    TokenPolicy {
        access_token_lifetime: 300,
        refresh_token_lifetime: 86_400,
        id_token_lifetime: 3_600,
        default_audience: None,
        refresh_reuse_grace: 10,
        session_idle: 3_600,
        session_max: 7 * 86_400,
        max_sessions_per_user: None,
        evict_oldest_session: false,
        resources: Default::default(),
    }
}

/// Request parameters from pairs.
pub fn params(pairs: &[(&str, &str)]) -> Params {
    Params::parse(pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())))
        .expect("valid parameters")
}

/// The tokens of an `Outcome::Issued`, or a panic saying what came instead.
pub fn issued(r: GrantResult) -> TokenResponse {
    match r {
        Ok(Outcome::Issued(t)) => t,
        other => panic!("expected tokens, got {other:?}"),
    }
}

/// The error and `login_failure` of an `Outcome::Denied` (which commits).
pub fn denied(r: GrantResult) -> (OAuthError, bool) {
    match r {
        Ok(Outcome::Denied {
            error,
            login_failure,
        }) => (error, login_failure),
        other => panic!("expected Denied, got {other:?}"),
    }
}

/// The error of an `Err` (which rolls back).
pub fn err(r: GrantResult) -> OAuthError {
    match r {
        Err(e) => e,
        other => panic!("expected an error, got {other:?}"),
    }
}

/// A store, randomness and the configuration a [`Ctx`] is built from.
pub struct Harness {
    pub store: MemStore,
    pub rng: SeqRandom,
    pub issuer: Issuer,
    pub policy: TokenPolicy,
    /// The DPoP key (thumbprint) of the token requests `at` runs.
    pub dpop_jkt: Option<String>,
    /// The `User-Agent` of the token requests `at` runs.
    pub user_agent: Option<String>,
}

impl Default for Harness {
    fn default() -> Self {
        Self::new(policy())
    }
}

impl Harness {
    pub fn new(policy: TokenPolicy) -> Self {
        Harness {
            store: MemStore::default(),
            rng: SeqRandom(42),
            issuer: Issuer::parse(ISSUER).expect("issuer"),
            policy,
            dpop_jkt: None,
            user_agent: None,
        }
    }

    /// Run `f` with the store, a `Ctx` at `now`, and the randomness.
    pub fn at<R>(
        &mut self,
        now: i64,
        f: impl FnOnce(&mut MemStore, &Ctx<'_>, &mut SeqRandom) -> R,
    ) -> R {
        let ctx = Ctx {
            issuer: &self.issuer,
            policy: &self.policy,
            signer: &TestSigner,
            derive_key: DERIVE_KEY,
            now,
            dpop_jkt: self.dpop_jkt.as_deref(),
            user_agent: self.user_agent.as_deref(),
        };
        f(&mut self.store, &ctx, &mut self.rng)
    }

    /// Create and store a client; returns it with its secret (if confidential).
    pub fn client(&mut self, spec: ClientSpec) -> (Client, Option<String>) {
        let n = new_client(spec, T0, &mut self.rng).expect("valid client");
        self.store.insert_client(&n.client).expect("insert client");
        (n.client, n.secret)
    }

    /// Create and store an enabled user.
    pub fn user(&mut self, username: &str) -> User {
        let email = format!("{username}@example.com");
        let u = crate::users::new_user(username, Some(&email), None, false, T0, &mut self.rng)
            .expect("valid user");
        self.store.insert_user(&u).expect("insert user");
        u
    }

    /// A password-grant login (no second factor) with the client's full
    /// scope; the password itself is the server's business.
    pub fn login(&mut self, client: &Client, user: &User, now: i64) -> TokenResponse {
        let req = crate::grants::password::PasswordRequest {
            username: user.username.clone(),
            password: "pw".into(),
            otp: None,
            scope: client.scope.clone(),
            scope_named: false,
            audience: vec![ISSUER.into()],
            resource: vec![],
        };
        issued(self.at(now, |s, ctx, rng| {
            let lifetime = ctx.policy.access_token_lifetime;
            crate::grants::password::complete(s, ctx, rng, client, user, None, &req, lifetime)
        }))
    }

    /// Change a stored user (disable it, enrol TOTP, ...).
    pub fn edit_user(&mut self, id: &str, f: impl FnOnce(&mut User)) -> User {
        let mut u = self.store.get_user(id).ok().flatten().expect("user");
        f(&mut u);
        self.store.update_user(&u).expect("update user");
        u
    }
}

#[cfg(test)]
mod tests {
    //! The double keeps the port rules, so grant tests can trust it.
    use super::*;

    fn session(id: &str, user: &str, created_at: i64, expires_at: i64) -> Session {
        Session {
            id: id.into(),
            user_id: Some(user.into()),
            client_id: "c".into(),
            kind: SessionKind::Password,
            auth_time: created_at,
            amr: vec!["pwd".into()],
            created_at,
            last_used_at: created_at,
            expires_at,
            revoked_at: None,
            user_agent: None,
        }
    }

    fn refresh(hash: &str, session_id: &str) -> RefreshToken {
        RefreshToken {
            token_hash: hash.into(),
            session_id: session_id.into(),
            client_id: "c".into(),
            user_id: None,
            scope: Scopes::default(),
            audience: vec![],
            issued_at: 0,
            expires_at: 100,
            consumed_at: None,
            revoked_at: None,
            parent_hash: None,
            resource: vec![],
            dpop_jkt: None,
        }
    }

    fn access(jti: &str, session_id: Option<&str>) -> AccessToken {
        AccessToken {
            jti: jti.into(),
            token_hash: Some(format!("h-{jti}")),
            format: TokenFormat::Opaque,
            session_id: session_id.map(str::to_string),
            client_id: "c".into(),
            user_id: None,
            scope: Scopes::default(),
            audience: vec![],
            issued_at: 0,
            expires_at: 100,
            revoked_at: None,
            dpop_jkt: None,
        }
    }

    #[test]
    fn absent_is_none_and_duplicates_conflict() {
        let mut s = MemStore::default();
        assert_eq!(s.get_client("x"), Ok(None));
        assert_eq!(s.get_session("x"), Ok(None));
        assert_eq!(s.get_refresh_token("x"), Ok(None));
        assert_eq!(s.get_access_token_by_hash("x"), Ok(None));
        s.insert_session(&session("a", "u", 1, 10)).unwrap();
        assert!(matches!(
            s.insert_session(&session("a", "u", 2, 10)),
            Err(StoreError::Conflict(_))
        ));
        s.insert_access_token(&access("j", None)).unwrap();
        assert!(s.insert_access_token(&access("j", None)).is_err());
    }

    #[test]
    fn single_use_and_totp_steps_only_forward() {
        let mut s = MemStore::default();
        s.insert_refresh_token(&refresh("h", "s")).unwrap();
        assert_eq!(s.consume_refresh_token("h", 5), Ok(true));
        assert_eq!(s.consume_refresh_token("h", 6), Ok(false));
        assert_eq!(
            s.get_refresh_token("h").unwrap().unwrap().consumed_at,
            Some(5)
        );
        assert_eq!(s.consume_refresh_token("nope", 6), Ok(false));

        let u = crate::users::new_user("u", None, None, false, 0, &mut SeqRandom(1)).unwrap();
        s.insert_user(&u).unwrap();
        assert_eq!(s.use_totp_step(&u.id, 10), Ok(true));
        assert_eq!(s.use_totp_step(&u.id, 10), Ok(false));
        assert_eq!(s.use_totp_step(&u.id, 9), Ok(false));
        assert_eq!(s.use_totp_step(&u.id, 11), Ok(true));
    }

    #[test]
    fn live_sessions_oldest_first_and_session_tokens_revoked() {
        let mut s = MemStore::default();
        s.insert_session(&session("new", "u", 20, 100)).unwrap();
        s.insert_session(&session("old", "u", 10, 100)).unwrap();
        s.insert_session(&session("gone", "u", 5, 50)).unwrap();
        s.insert_session(&session("other", "v", 1, 100)).unwrap();
        let ids = |s: &mut MemStore, now| -> Vec<String> {
            let live = s.list_live_sessions("u", now).unwrap();
            live.into_iter().map(|x| x.id).collect()
        };
        assert_eq!(ids(&mut s, 30), ["gone", "old", "new"]);
        assert_eq!(ids(&mut s, 50), ["old", "new"]);
        assert_eq!(s.revoke_session("old", 31), Ok(true));
        assert_eq!(s.revoke_session("old", 32), Ok(false));
        assert_eq!(ids(&mut s, 30), ["gone", "new"]);

        s.insert_access_token(&access("a1", Some("new"))).unwrap();
        s.insert_access_token(&access("a2", Some("other"))).unwrap();
        s.insert_access_token(&access("a3", None)).unwrap();
        s.insert_refresh_token(&refresh("r1", "new")).unwrap();
        s.insert_refresh_token(&refresh("r2", "other")).unwrap();
        assert_eq!(s.revoke_session_tokens("new", 40), Ok(2));
        assert_eq!(s.revoke_session_tokens("new", 41), Ok(0));
        let revoked: Vec<&str> = s
            .access_tokens
            .iter()
            .filter(|t| t.revoked_at.is_some())
            .map(|t| t.jti.as_str())
            .collect();
        assert_eq!(revoked, ["a1"]);
        assert!(s
            .get_refresh_token("r2")
            .unwrap()
            .unwrap()
            .revoked_at
            .is_none());
    }

    #[test]
    fn seq_random_and_signer_are_deterministic() {
        let (mut a, mut b) = (SeqRandom(7), SeqRandom(7));
        let (mut x, mut y) = ([0u8; 13], [0u8; 13]);
        a.fill(&mut x);
        b.fill(&mut y);
        assert_eq!(x, y);
        a.fill(&mut y);
        assert_ne!(x, y);
        let t = TestSigner
            .sign(SigningAlg::Es256, "at+jwt", &json!({"a": 1}))
            .unwrap();
        let (h, c) = TestSigner::decode(&t);
        assert_eq!(
            (h["alg"].as_str(), h["typ"].as_str()),
            (Some("ES256"), Some("at+jwt"))
        );
        assert_eq!(c, json!({"a": 1}));
    }
}

/// Keys made for core's tests only (never used elsewhere): an RSA 2048, an
/// Ed25519 and a P-256 private key, with their public JWK members.
pub mod keys {
    pub const RSA_PEM: &str = "-----BEGIN PRIVATE KEY-----
MIIEvwIBADANBgkqhkiG9w0BAQEFAASCBKkwggSlAgEAAoIBAQDAfkbcEFFUTCdL
V0BcIqZIR7xv4twvt3zJucDd+oeXC2m0971IEAvrSP2prOV5fow4hd2D8h05BIg2
XB24/0dK/GpUhm/h3uX6CU3wgqC8Mt8xM7QUM8sbCAd0BouVGqNZtKryqdX9URg4
5GChO8rYjKboaVh9Lntrn/H/1k78D38s6yvyMv13JQ5uLHvygZDXEIunLqUp+r+E
VBqHwrZZEB5lbWcWtJP3sd4LSV538nKii7dk6Rmg1RiZBoPi00/ZC9lqlEzhmJ4y
GRk3PHtreqPJQzFUXvQD69lYmboADBhLFfZRfvsefn0y0lmDrsDtUB21BTLr2oe0
JogCh9+LAgMBAAECggEAB9u/4dEKuPHI8uLzfi9t8Wp4T2sICSyo/AVI0ecd7PUq
0hgBErWQ/wCCVpB3589aQx537iCOv9qnAu0cy4Ykb3PBlYTNgX+bjOsfUu/KRxSe
lwAg3GhG5Oodf8eaoDIvtARTrEdxtH9AiWYNadeqjs+jKr7OPYINyNWFSCgEHncj
Ukhfj4mYko457fFCvcCvXy+D6iTNgpIXEYPMbzps6xnGSrXP7JytSINp8fWnb6xo
GWHhFehc1VItOWz9Yth6KqkEIl3Gz7epWPeN+KDPa1hZhXq9VAoECDRJyeCljqNz
VzxcHX6Mm+Y9krREqN23HyE0HfXQSxrI+XhZ4q88XQKBgQDupr6LVkNtJLF7u0Jq
2b+Yo3MQm9AeVr49N/yAXdXHh0PkkTOen6pGPXkjh7JjOC/umFesOxEJzaFM1Db1
Gc8kTkTdT04WMUdJD5nBvrvG3LS+Iw/oSuUd9R1naS0mi3Wuo5nKoeFor4F859eB
GaF2sbmM4QQOsnA3PdQfZQXtjQKBgQDOfIof7IilZ9sagTyTam4jp3NGWw1rqcvH
8ge2MkNqlUKAHBLgAqHT55q2RKsuN3+PNQYF69ipI7f6Tw1jEuWM4u6FhMX7OOho
7ckSRj4CeggrnCDuu7+VEWg1Wh3uR3jlf4SnIY7sMG0Mcy6TOPp9S2R/+OWbvX+M
YhoEboP/dwKBgQCed1Ac+4nIJk5Hx58hjjcf5qCYDa5TBuxJgCyFHEnAtLvLQPNS
x9hrzZPrmMZGBeAmAThuH8Z/iPArMNrRQ3L9O4+UmH1UVSJtjBNfyAOt142Yl3WP
nHOowcLlkLwvVPkunmmXWIhxV+CWjOfXTKqfQwHfXuavz6Kdu8tnkVAvXQKBgQCi
HlfYLr8ulrcJPVTRLSviZHN2VsDXug2cI6P4Ychao2v954zOQmLKXDo1Rv7bn4lQ
Z8Id3glS6w9kwLJzCgAeuIGrZQ6IayrWT3OiHHJNQYCutLuKlPAbWvplgSak0YrT
LWZ6TjfHq1HDB6AWyRKqUwpKC6JCv+qnztI8joSmiwKBgQCzFK+/EXrQS7zD+3WZ
vPoLrQ7mUnpa0T4uSv0+QCwtbgmKqdRHa0mkW4yBZv7rZQVLvx8JvAhCC3kFOS8X
elv7gyLun3k/3RuyqNxK84kW8M2T4tsWdLMpzjuXvUWPq7Jo2IQ/Up3jfaD+LZWe
GkHgmcjHm9Kkt6ka0WpDiI28Sw==
-----END PRIVATE KEY-----";
    pub const RSA_N: &str = "wH5G3BBRVEwnS1dAXCKmSEe8b-LcL7d8ybnA3fqHlwtptPe9SBAL60j9qazleX6MOIXdg_IdOQSINlwduP9HSvxqVIZv4d7l-glN8IKgvDLfMTO0FDPLGwgHdAaLlRqjWbSq8qnV_VEYOORgoTvK2Iym6GlYfS57a5_x_9ZO_A9_LOsr8jL9dyUObix78oGQ1xCLpy6lKfq_hFQah8K2WRAeZW1nFrST97HeC0led_Jyoou3ZOkZoNUYmQaD4tNP2QvZapRM4ZieMhkZNzx7a3qjyUMxVF70A-vZWJm6AAwYSxX2UX77Hn59MtJZg67A7VAdtQUy69qHtCaIAoffiw";
    pub const ED_PEM: &str = "-----BEGIN PRIVATE KEY-----
MC4CAQAwBQYDK2VwBCIEIHXgjTlQciXW32gKp9t8GvrIRzUkaYOEK9F+QwtBHiNh
-----END PRIVATE KEY-----";
    pub const ED_X: &str = "_weUVEZ2PTsW1sJ_n6p0BAbF-mSbZHZf11yxIgJYa3E";
    pub const EC_PEM: &str = "-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg7QLii6zu2l3y2iPT
MRh4F4YrA3YUP09Qn2BfkdRf1LWhRANCAASKKGFZwpIIFGCELNTnm8YHA/0CRimc
3K6ERhk05KPPowch4GJm48Hq6jsYkw/cV+9mZP6fZVtEvOyQ06+H284k
-----END PRIVATE KEY-----";
    pub const EC_X: &str = "iihhWcKSCBRghCzU55vGBwP9AkYpnNyuhEYZNOSjz6M";
    pub const EC_Y: &str = "ByHgYmbjwerqOxiTD9xX72Zk_p9lW0S87JDTr4fbziQ";
}
