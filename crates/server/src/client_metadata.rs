//! Fetching client ID metadata documents (draft-ietf-oauth-client-id-metadata-document):
//! the HTTP side of `portcullis_core::client_metadata`. A `client_id` that
//! is a URL is resolved here, before the request's transaction: from the
//! in-memory cache while fresh, else fetched and checked by core.
//!
//! The fetch, and the draft's advice it follows:
//!
//! - Server-side request forgery ("Server Side Request Forgery (SSRF)
//!   Attacks": avoid fetching URLs that resolve to internal or loopback
//!   addresses). The host name is resolved here, once; if any address is
//!   private, loopback, link-local, unique-local, multicast, unspecified or
//!   otherwise special-purpose ([`special_purpose`]), nothing is fetched.
//!   The connection goes to the checked addresses only (reqwest is told
//!   them, and its own resolver refuses every name), so a second DNS answer
//!   cannot point it elsewhere (DNS rebinding). No proxy from the
//!   environment is used.
//! - "Client Information Discovery": only a `200` answer counts; redirects
//!   are not followed (a `3xx` is a failure).
//! - "Maximum Response Size": at most 5 KB is read; a longer body is
//!   refused without reading further.
//! - JSON only (`application/json` or a `+json` type); at most
//!   `timeout_secs` in all.
//! - "Metadata Caching": a checked document is kept for its `Cache-Control:
//!   max-age`, clamped to [`min_cache_secs`, `max_cache_secs`] (`no-store`,
//!   `no-cache` or no `max-age`: the minimum), in a cache bounded in
//!   entries.
//!
//! `allow_private_addresses` (development) lifts the address check and
//! allows plain `http` on a loopback host.
//!
//! The same fetch reads the `jwks_uri` of `private_key_jwt` clients
//! ([`Documents::client_jwks`]), with a cache of its own.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use jsonwebtoken::jwk::JwkSet;
use portcullis_core::client_assertion;
use portcullis_core::client_metadata::{self as core_docs, refused, MAX_DOCUMENT_BYTES};
use portcullis_core::model::Client;
use portcullis_core::OAuthError;
use url::{Host, Url};

use crate::config::ClientMetadataDocumentsConfig;
use crate::state::now;

/// Why an address may not be fetched from: the special-purpose range it
/// falls in, or `None` for an ordinary public address. The ranges are
/// those of the IANA IPv4 and IPv6 Special-Purpose Address Registries (RFC
/// 6890), plus multicast, the deprecated IPv6 site-local and
/// IPv4-compatible ranges, and every IPv6 address outside the global
/// unicast space `2000::/3`. An IPv4-mapped (`::ffff:a.b.c.d`, RFC 4291
/// §2.5.5.2) or NAT64 (`64:ff9b::a.b.c.d`, RFC 6052) IPv6 address is judged
/// by the IPv4 address inside.
pub fn special_purpose(ip: IpAddr) -> Option<&'static str> {
    let ip = match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None if within(v6.to_bits(), 128, V6_NAT64, 96) => {
                let [.., a, b, c, d] = v6.octets();
                IpAddr::V4(Ipv4Addr::new(a, b, c, d))
            }
            None => IpAddr::V6(v6),
        },
        v4 => v4,
    };
    match ip {
        IpAddr::V4(v4) => range_of(u128::from(v4.to_bits()), 32, SPECIAL_V4),
        IpAddr::V6(v6) => range_of(v6.to_bits(), 128, SPECIAL_V6).or_else(|| {
            (!within(v6.to_bits(), 128, V6_GLOBAL_UNICAST, 3))
                .then_some("not global unicast (outside 2000::/3)")
        }),
    }
}

/// The NAT64 well-known prefix (RFC 6052 §2.1), `64:ff9b::/96`.
const V6_NAT64: u128 = 0x0064_ff9b << 96;

/// The name of the first range `(network, prefix length, name)` holding
/// `ip`, an address of `bits` bits.
fn range_of(ip: u128, bits: u32, ranges: &[(u128, u32, &'static str)]) -> Option<&'static str> {
    ranges
        .iter()
        .find(|(net, len, _)| within(ip, bits, *net, *len))
        .map(|(_, _, name)| *name)
}

/// Is `ip` (an address of `bits` bits) in `net/len`?
fn within(ip: u128, bits: u32, net: u128, len: u32) -> bool {
    let mask = u128::MAX.checked_shl(bits - len).unwrap_or(0);
    (ip ^ net) & mask == 0
}

const fn v4(a: u8, b: u8, c: u8, d: u8) -> u128 {
    u32::from_be_bytes([a, b, c, d]) as u128
}

/// IPv4: RFC 791, 1918, 6598, 1122, 3927, 6890, 5737, 7535, 7450, 7526,
/// 7534, 2544, 5771, 1112 and 919.
const SPECIAL_V4: &[(u128, u32, &str)] = &[
    (v4(0, 0, 0, 0), 8, "this network"),
    (v4(10, 0, 0, 0), 8, "private-use"),
    (v4(100, 64, 0, 0), 10, "shared address space"),
    (v4(127, 0, 0, 0), 8, "loopback"),
    (v4(169, 254, 0, 0), 16, "link-local"),
    (v4(172, 16, 0, 0), 12, "private-use"),
    (v4(192, 0, 0, 0), 24, "IETF protocol assignments"),
    (v4(192, 0, 2, 0), 24, "documentation"),
    (v4(192, 31, 196, 0), 24, "AS112"),
    (v4(192, 52, 193, 0), 24, "AMT"),
    (v4(192, 88, 99, 0), 24, "6to4 relay anycast"),
    (v4(192, 168, 0, 0), 16, "private-use"),
    (v4(192, 175, 48, 0), 24, "AS112 direct delegation"),
    (v4(198, 18, 0, 0), 15, "benchmarking"),
    (v4(198, 51, 100, 0), 24, "documentation"),
    (v4(203, 0, 113, 0), 24, "documentation"),
    (v4(224, 0, 0, 0), 4, "multicast"),
    (v4(240, 0, 0, 0), 4, "reserved and limited broadcast"),
];

/// IPv6: RFC 4291, 2765, 8215, 6666, 2928, 3849, 3056, 9637, 9602, 4193
/// and 3879.
const SPECIAL_V6: &[(u128, u32, &str)] = &[
    (0, 128, "unspecified"),
    (1, 128, "loopback"),
    (0, 96, "IPv4-compatible (deprecated)"),
    (0xffff << 48, 96, "IPv4-translated"),
    (
        0x0064_ff9b_0001 << 80,
        48,
        "local-use IPv4/IPv6 translation",
    ),
    (0x0100 << 112, 64, "discard-only"),
    (0x2001 << 112, 23, "IETF protocol assignments"),
    (0x2001_0db8 << 96, 32, "documentation"),
    (0x2002 << 112, 16, "6to4"),
    (0x3fff << 112, 20, "documentation"),
    (0x5f00 << 112, 16, "segment routing SIDs"),
    (0xfc00 << 112, 7, "unique-local"),
    (0xfe80 << 112, 10, "link-local"),
    (0xfec0 << 112, 10, "site-local (deprecated)"),
    (0xff00 << 112, 8, "multicast"),
];

/// The IPv6 global unicast space (RFC 4291 §2.4): everything outside it is
/// reserved or unassigned.
const V6_GLOBAL_UNICAST: u128 = 0x2000 << 112;

/// How long to keep a document, from its `Cache-Control` values (RFC 9111
/// §5.2.2): `max-age`, clamped to `[min, max]`; `no-store`, `no-cache`, a
/// missing or unreadable `max-age`: `min`.
pub fn cache_lifetime(cache_control: &[&str], min: i64, max: i64) -> i64 {
    let mut max_age: Option<i64> = None;
    let mut uncacheable = false;
    for directive in cache_control.iter().flat_map(|v| v.split(',')) {
        let (name, value) = match directive.split_once('=') {
            Some((n, v)) => (n.trim(), Some(v.trim().trim_matches('"'))),
            None => (directive.trim(), None),
        };
        if name.eq_ignore_ascii_case("no-store") || name.eq_ignore_ascii_case("no-cache") {
            uncacheable = true;
        } else if name.eq_ignore_ascii_case("max-age") {
            // RFC 9111 §4.2.1: a repeated or invalid max-age makes the
            // answer stale.
            match (max_age, value.and_then(|v| v.parse::<i64>().ok())) {
                (None, Some(n)) => max_age = Some(n),
                _ => uncacheable = true,
            }
        }
    }
    let wanted = if uncacheable { 0 } else { max_age.unwrap_or(0) };
    wanted.clamp(min, max.max(min))
}

/// A resolver that resolves nothing: every name the fetch may connect to
/// is given to reqwest beforehand, already checked.
struct NoResolution;

impl reqwest::dns::Resolve for NoResolution {
    fn resolve(&self, _name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        Box::pin(async {
            Err::<reqwest::dns::Addrs, Box<dyn std::error::Error + Send + Sync>>(
                "names are resolved and checked before the fetch".into(),
            )
        })
    }
}

struct Entry {
    client: Client,
    expires_at: i64,
}

/// Checked documents by `client_id`, each until it expires; at most
/// `capacity`.
struct Cache {
    entries: HashMap<String, Entry>,
    capacity: usize,
}

impl Cache {
    fn get(&self, id: &str, now: i64) -> Option<Client> {
        self.entries
            .get(id)
            .filter(|e| now < e.expires_at)
            .map(|e| e.client.clone())
    }

    fn insert(&mut self, id: &str, client: Client, expires_at: i64, now: i64) {
        if !self.entries.contains_key(id) && self.entries.len() >= self.capacity {
            self.entries.retain(|_, e| now < e.expires_at);
            while self.entries.len() >= self.capacity {
                let first = self
                    .entries
                    .iter()
                    .min_by_key(|(_, e)| e.expires_at)
                    .map(|(k, _)| k.clone());
                match first {
                    Some(k) => self.entries.remove(&k),
                    None => break,
                };
            }
        }
        self.entries
            .insert(id.to_string(), Entry { client, expires_at });
    }
}

/// The documents this node knows, and how it fetches more.
pub struct Documents {
    config: ClientMetadataDocumentsConfig,
    tls: rustls::ClientConfig,
    cache: Mutex<Cache>,
    keys: Mutex<HashMap<String, KeyEntry>>,
}

/// A `private_key_jwt` client's fetched keys.
struct KeyEntry {
    set: JwkSet,
    fetched_at: i64,
    expires_at: i64,
}

/// An assertion with a `kid` not among a `jwks_uri`'s cached keys fetches
/// them again, at most once in this many seconds per URL.
const KEY_REFETCH_SECS: i64 = 60;

/// A JWK Set is read up to this size.
const MAX_JWKS_BYTES: usize = 64 * 1024;

/// How a failed fetch is told: the refusal for its purpose.
type Refusal<'a> = &'a dyn Fn(&str) -> OAuthError;

/// What a fetch brought back.
struct Fetched {
    body: Vec<u8>,
    cache_control: Vec<String>,
}

impl Documents {
    pub fn new(config: ClientMetadataDocumentsConfig) -> Result<Documents, String> {
        let roots = rustls::RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        };
        let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::aws_lc_rs::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
        let capacity = config.cache_entries.max(1);
        Ok(Documents {
            config,
            tls,
            cache: Mutex::new(Cache {
                entries: HashMap::new(),
                capacity,
            }),
            keys: Mutex::new(HashMap::new()),
        })
    }

    pub fn enabled(&self) -> bool {
        self.config.enabled
    }

    /// `None` when `client_id` is not a URL (an ordinary client, looked up
    /// in the store); else the client its document describes, or why it
    /// cannot be used (`invalid_client`).
    pub async fn resolve(&self, client_id: Option<&str>) -> Option<Result<Client, OAuthError>> {
        let id = client_id.filter(|id| core_docs::is_document_url(id))?;
        Some(self.resolve_url(id).await)
    }

    async fn resolve_url(&self, id: &str) -> Result<Client, OAuthError> {
        if !self.config.enabled {
            return Err(refused(
                "this server does not accept client_id URLs (client ID metadata documents)",
            ));
        }
        let url = core_docs::check_url(id, self.config.allow_private_addresses)?;
        let t = now();
        if let Some(client) = self.lock().get(id, t) {
            return Ok(client);
        }
        let limit = Duration::from_secs(self.config.timeout_secs);
        let fetched = actix_web::rt::time::timeout(
            limit,
            self.fetch(&url, MAX_DOCUMENT_BYTES, &|why| refused(why)),
        )
        .await
        .map_err(|_| {
            refused(format!(
                "fetching it took longer than {} seconds",
                self.config.timeout_secs
            ))
        })??;
        let client = core_docs::client_from_document(id, &fetched.body, t)?;
        let values: Vec<&str> = fetched.cache_control.iter().map(String::as_str).collect();
        let ttl = cache_lifetime(
            &values,
            self.config.min_cache_secs,
            self.config.max_cache_secs,
        );
        self.lock().insert(id, client.clone(), t + ttl, t);
        tracing::info!(
            client_id = id,
            cache_secs = ttl,
            "client metadata document fetched"
        );
        Ok(client)
    }

    /// The keys a `private_key_jwt` client publishes at `uri` (RFC 7591 §2
    /// `jwks_uri`), fetched with the same address checks, limits and cache
    /// lifetimes as documents (but whether or not documents are enabled).
    /// An assertion whose `kid` is not among the cached keys fetches them
    /// again, at most once per [`KEY_REFETCH_SECS`] (or `min_cache_secs`,
    /// if shorter) per URL (key rotation).
    pub async fn client_jwks(&self, uri: &str, kid: Option<&str>) -> Result<JwkSet, OAuthError> {
        let url = client_assertion::jwks_url(uri, self.config.allow_private_addresses)?;
        let t = now();
        if let Some(e) = self.lock_keys().get(uri) {
            let known = kid.is_none_or(|k| e.set.find(k).is_some());
            let cooldown = KEY_REFETCH_SECS.min(self.config.min_cache_secs);
            if t < e.expires_at && (known || t < e.fetched_at + cooldown) {
                return Ok(e.set.clone());
            }
        }
        let limit = Duration::from_secs(self.config.timeout_secs);
        let refused = |why: &str| client_assertion::jwks_uri_refused(why);
        let fetched =
            actix_web::rt::time::timeout(limit, self.fetch(&url, MAX_JWKS_BYTES, &refused))
                .await
                .map_err(|_| refused("fetching it took too long"))??;
        let value: serde_json::Value =
            serde_json::from_slice(&fetched.body).map_err(|_| refused("it is not valid JSON"))?;
        let set = client_assertion::parse_jwks(&value).map_err(|e| refused(&e))?;
        let values: Vec<&str> = fetched.cache_control.iter().map(String::as_str).collect();
        let ttl = cache_lifetime(
            &values,
            self.config.min_cache_secs,
            self.config.max_cache_secs,
        );
        let mut keys = self.lock_keys();
        if keys.len() >= self.config.cache_entries.max(1) {
            keys.retain(|_, e| t < e.expires_at);
            if keys.len() >= self.config.cache_entries.max(1) {
                keys.clear();
            }
        }
        keys.insert(
            uri.to_string(),
            KeyEntry {
                set: set.clone(),
                fetched_at: t,
                expires_at: t + ttl,
            },
        );
        tracing::info!(jwks_uri = uri, cache_secs = ttl, "client keys fetched");
        Ok(set)
    }

    fn lock_keys(&self) -> std::sync::MutexGuard<'_, HashMap<String, KeyEntry>> {
        self.keys.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Cache> {
        self.cache.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The addresses to connect to, each checked.
    async fn addresses(
        &self,
        url: &Url,
        refused: Refusal<'_>,
    ) -> Result<Vec<SocketAddr>, OAuthError> {
        let port = url.port_or_known_default().unwrap_or(443);
        let addrs: Vec<SocketAddr> = match url.host() {
            Some(Host::Ipv4(ip)) => vec![SocketAddr::new(IpAddr::V4(ip), port)],
            Some(Host::Ipv6(ip)) => vec![SocketAddr::new(IpAddr::V6(ip), port)],
            Some(Host::Domain(name)) => match tokio::net::lookup_host((name, port)).await {
                Ok(found) => found.collect(),
                Err(e) => {
                    tracing::info!(url = url.as_str(), cause = %e, "host not resolved");
                    return Err(refused("its host name could not be resolved"));
                }
            },
            None => return Err(refused("the URL has no host")),
        };
        if addrs.is_empty() {
            return Err(refused("its host name could not be resolved"));
        }
        if !self.config.allow_private_addresses {
            if let Some((addr, range)) = addrs
                .iter()
                .find_map(|a| special_purpose(a.ip()).map(|r| (a, r)))
            {
                tracing::warn!(url = url.as_str(), address = %addr.ip(), range, "fetch refused: special-purpose address");
                return Err(refused(
                    "its host is a private or special-purpose address, which this server does not fetch from",
                ));
            }
        }
        Ok(addrs)
    }

    async fn fetch(
        &self,
        url: &Url,
        max_bytes: usize,
        refused: Refusal<'_>,
    ) -> Result<Fetched, OAuthError> {
        let addrs = self.addresses(url, refused).await?;
        let limit = Duration::from_secs(self.config.timeout_secs);
        let mut builder = reqwest::Client::builder()
            .use_preconfigured_tls(self.tls.clone())
            .dns_resolver(Arc::new(NoResolution))
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .http1_only()
            .pool_max_idle_per_host(0)
            .timeout(limit)
            .connect_timeout(limit)
            .user_agent(concat!("Portcullis/", env!("CARGO_PKG_VERSION")))
            .https_only(!self.config.allow_private_addresses);
        if let Some(Host::Domain(name)) = url.host() {
            builder = builder.resolve_to_addrs(name, &addrs);
        }
        let http = builder
            .build()
            .map_err(|e| OAuthError::server(format!("HTTP client: {e}")))?;
        let failed = |e: reqwest::Error| {
            tracing::info!(url = url.as_str(), cause = %e, "fetch failed");
            if e.is_timeout() {
                refused("fetching it took too long")
            } else if e.is_connect() {
                refused("its host could not be reached")
            } else {
                refused("fetching it failed")
            }
        };
        let mut res = http
            .get(url.as_str())
            .header(reqwest::header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(failed)?;
        let status = res.status();
        if status.is_redirection() {
            return Err(refused(&format!(
                "it answered with a redirect (HTTP {}), which this server does not follow",
                status.as_u16()
            )));
        }
        if status != reqwest::StatusCode::OK {
            return Err(refused(&format!(
                "it answered HTTP {} instead of 200",
                status.as_u16()
            )));
        }
        let media = res
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .map(|v| v.trim().to_ascii_lowercase())
            .unwrap_or_default();
        if media != "application/json" && !media.ends_with("+json") {
            return Err(refused(
                "it is not served as JSON (Content-Type application/json)",
            ));
        }
        let too_large = || refused(&format!("it is larger than {} KB", max_bytes / 1024));
        if res.content_length().is_some_and(|n| n > max_bytes as u64) {
            return Err(too_large());
        }
        let cache_control = res
            .headers()
            .get_all(reqwest::header::CACHE_CONTROL)
            .iter()
            .filter_map(|v| v.to_str().ok().map(str::to_string))
            .collect();
        let mut body = Vec::new();
        while let Some(chunk) = res.chunk().await.map_err(failed)? {
            if body.len() + chunk.len() > max_bytes {
                return Err(too_large());
            }
            body.extend_from_slice(&chunk);
        }
        Ok(Fetched {
            body,
            cache_control,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v4(s: &str) -> IpAddr {
        IpAddr::V4(s.parse().unwrap())
    }
    fn v6(s: &str) -> IpAddr {
        IpAddr::V6(s.parse().unwrap())
    }

    #[test]
    fn every_special_ipv4_range_is_refused_at_both_ends() {
        let cases = [
            ("0.0.0.0", "0.255.255.255", "this network"),
            ("10.0.0.0", "10.255.255.255", "private-use"),
            ("100.64.0.0", "100.127.255.255", "shared"),
            ("127.0.0.0", "127.255.255.255", "loopback"),
            ("169.254.0.0", "169.254.255.255", "link-local"),
            ("172.16.0.0", "172.31.255.255", "private-use"),
            ("192.0.0.0", "192.0.0.255", "IETF"),
            ("192.0.2.0", "192.0.2.255", "documentation"),
            ("192.31.196.0", "192.31.196.255", "AS112"),
            ("192.52.193.0", "192.52.193.255", "AMT"),
            ("192.88.99.0", "192.88.99.255", "6to4"),
            ("192.168.0.0", "192.168.255.255", "private-use"),
            ("192.175.48.0", "192.175.48.255", "AS112"),
            ("198.18.0.0", "198.19.255.255", "benchmarking"),
            ("198.51.100.0", "198.51.100.255", "documentation"),
            ("203.0.113.0", "203.0.113.255", "documentation"),
            ("224.0.0.0", "239.255.255.255", "multicast"),
            ("240.0.0.0", "255.255.255.254", "reserved"),
            ("255.255.255.255", "255.255.255.255", "broadcast"),
        ];
        for (first, last, name) in cases {
            for ip in [first, last] {
                let got = special_purpose(v4(ip));
                assert!(got.is_some_and(|r| r.contains(name)), "{ip}: {got:?}");
            }
        }
    }

    #[test]
    fn public_ipv4_addresses_next_to_the_ranges_pass() {
        for ip in [
            "1.1.1.1",
            "8.8.8.8",
            "9.255.255.255",
            "11.0.0.0",
            "100.63.255.255",
            "100.128.0.0",
            "126.255.255.255",
            "128.0.0.0",
            "169.253.255.255",
            "172.15.255.255",
            "172.32.0.0",
            "192.0.1.0",
            "192.167.255.255",
            "192.169.0.0",
            "198.17.255.255",
            "198.20.0.0",
            "223.255.255.255",
        ] {
            assert_eq!(special_purpose(v4(ip)), None, "{ip}");
        }
    }

    #[test]
    fn every_special_ipv6_range_is_refused() {
        let cases = [
            ("::", "unspecified"),
            ("::1", "loopback"),
            ("::7f00:1", "IPv4-compatible"),
            ("::ffff:0:808:808", "IPv4-translated"),
            ("64:ff9b:1::1", "translation"),
            ("100::1", "discard"),
            ("2001::1", "IETF"),
            ("2001:1ff:ffff::1", "IETF"),
            ("2001:db8::1", "documentation"),
            ("2002:c000:204::1", "6to4"),
            ("3fff::1", "documentation"),
            ("5f00::1", "segment routing"),
            ("fc00::1", "unique-local"),
            ("fdff:ffff::1", "unique-local"),
            ("fe80::1", "link-local"),
            ("febf:ffff::1", "link-local"),
            ("fec0::1", "site-local"),
            ("ff02::1", "multicast"),
            ("ff0e::1", "multicast"),
            ("::2:0:0:1", "outside 2000::/3"),
            ("64:ff9b:2::1", "outside 2000::/3"),
            ("4000::1", "outside 2000::/3"),
            ("fbff:ffff::1", "outside 2000::/3"),
            ("fe00::1", "outside 2000::/3"),
        ];
        for (ip, name) in cases {
            let got = special_purpose(v6(ip));
            assert!(got.is_some_and(|r| r.contains(name)), "{ip}: {got:?}");
        }
        // Public, next to the ranges.
        for ip in [
            "2606:4700:4700::1111",
            "2a00:1450:4001::1",
            "2001:200::1",
            "2001:db9::1",
            "2003::1",
            "3fff:1000::1",
            "3fff:ffff::1",
        ] {
            assert_eq!(special_purpose(v6(ip)), None, "{ip}");
        }
    }

    #[test]
    fn ipv4_inside_ipv6_is_judged_by_the_ipv4_address() {
        for (ip, name) in [
            ("::ffff:127.0.0.1", "loopback"),
            ("::ffff:10.1.2.3", "private-use"),
            ("::ffff:169.254.169.254", "link-local"),
            ("::ffff:192.168.1.1", "private-use"),
            ("::ffff:0.0.0.0", "this network"),
            ("::ffff:224.0.0.1", "multicast"),
            ("64:ff9b::7f00:1", "loopback"),
            ("64:ff9b::a00:1", "private-use"),
        ] {
            let got = special_purpose(v6(ip));
            assert!(got.is_some_and(|r| r.contains(name)), "{ip}: {got:?}");
        }
        assert_eq!(special_purpose(v6("::ffff:8.8.8.8")), None);
        assert_eq!(special_purpose(v6("64:ff9b::808:808")), None);
    }

    #[test]
    fn cache_lifetime_follows_max_age_within_bounds() {
        let (min, max) = (300, 86_400);
        assert_eq!(cache_lifetime(&["max-age=3600"], min, max), 3600);
        assert_eq!(cache_lifetime(&["public, max-age=\"600\""], min, max), 600);
        assert_eq!(cache_lifetime(&["max-age=10"], min, max), min);
        assert_eq!(cache_lifetime(&["max-age=0"], min, max), min);
        assert_eq!(cache_lifetime(&["max-age=999999999"], min, max), max);
        assert_eq!(cache_lifetime(&["no-store"], min, max), min);
        assert_eq!(cache_lifetime(&["max-age=3600, no-cache"], min, max), min);
        assert_eq!(cache_lifetime(&["No-Store", "max-age=3600"], min, max), min);
        assert_eq!(cache_lifetime(&[], min, max), min);
        assert_eq!(cache_lifetime(&["max-age=abc"], min, max), min);
        assert_eq!(
            cache_lifetime(&["max-age=60", "max-age=3600"], min, max),
            min
        );
        assert_eq!(cache_lifetime(&["max-age=-5"], 0, max), 0);
    }

    fn client(id: &str) -> Client {
        let doc = serde_json::json!({"client_id": id, "redirect_uris": ["https://a.example/cb"]});
        core_docs::client_from_document(id, doc.to_string().as_bytes(), 0).unwrap()
    }

    #[test]
    fn the_cache_is_bounded_and_forgets_expired_entries_first() {
        let mut c = Cache {
            entries: HashMap::new(),
            capacity: 2,
        };
        let (a, b, d) = (
            "https://a.example/c",
            "https://b.example/c",
            "https://d.example/c",
        );
        c.insert(a, client(a), 100, 0);
        c.insert(b, client(b), 50, 0);
        assert!(c.get(a, 99).is_some());
        assert!(c.get(a, 100).is_none(), "expired at expires_at");
        // Full: the entry expiring first goes.
        c.insert(d, client(d), 200, 10);
        assert_eq!(c.entries.len(), 2);
        assert!(c.get(b, 10).is_none() && c.get(a, 10).is_some() && c.get(d, 10).is_some());
        // Expired entries go before live ones.
        c.insert(b, client(b), 300, 150);
        assert!(c.get(a, 150).is_none() && c.get(d, 150).is_some() && c.get(b, 150).is_some());
        // Replacing an entry does not evict another.
        c.insert(b, client(b), 400, 150);
        assert_eq!(c.entries.len(), 2);
    }
}
