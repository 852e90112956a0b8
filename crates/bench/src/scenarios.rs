//! The scenario list. To add one: give it an id and a [`Load`] (a new
//! [`DriverKind`] if no existing load fits), the client it uses (a new
//! [`ClientRole`] in provision.rs if none fits), and, where the peer has the
//! same endpoint, a [`PeerMode`]. A scenario whose endpoint does not exist
//! yet stays in the list as [`Status::Pending`], so reports say what is
//! missing.

use crate::provision::ClientRole;

/// How the load is generated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Load {
    /// wrk with the peer's own cc.lua (keep-alive client_credentials), the
    /// same command for both servers. Smoke runs use the driver instead.
    WrkClientCredentials,
    /// wrk with the peer's introspect.lua: introspection of one live opaque
    /// access token (minted by the scenario's client just before the run).
    WrkIntrospect,
    /// The Rust driver (driver.rs).
    Driver(DriverKind),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DriverKind {
    /// client_credentials; `new_conn`: one TCP connection per request.
    ClientCredentials { new_conn: bool },
    /// refresh_token with rotation: each connection keeps its own chain.
    Refresh,
    /// password grant (Argon2id on the server).
    Password,
    /// introspection of one live token (smoke's stand-in for WrkIntrospect).
    Introspect,
    /// The authorization code flow with PKCE, end to end (browser.rs); one
    /// flow is one request. `sso: false`: a fresh browser each time (sign-in
    /// with the password, Argon2id); `sso: true`: the browser stays signed
    /// in, so only the first flow per connection signs in.
    AuthCode { sso: bool },
}

/// What the access token must look like (checked on a sample request).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenShape {
    Opaque,
    Jwt(&'static str),
}

/// The peer's server.mjs modes (its AT_FORMAT).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PeerMode {
    Opaque,
    Jwt,
}

impl PeerMode {
    pub fn at_format(self) -> &'static str {
        match self {
            PeerMode::Opaque => "opaque",
            PeerMode::Jwt => "jwt",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Ready,
    /// Not measurable yet; the reason is printed in the report. (Every
    /// scenario of the list is ready today; the variant stays for the next
    /// one whose endpoint does not exist yet.)
    #[allow(dead_code)]
    Pending(&'static str),
}

#[derive(Debug, Clone, Copy)]
pub struct Scenario {
    pub id: &'static str,
    pub title: &'static str,
    pub load: Load,
    pub client: ClientRole,
    pub shape: TokenShape,
    pub peer: Option<PeerMode>,
    pub status: Status,
}

impl Scenario {
    pub fn ready(&self) -> bool {
        self.status == Status::Ready
    }
}

/// Every scenario, in run order.
pub const SCENARIOS: &[Scenario] = &[
    Scenario {
        id: "a",
        title: "client_credentials, opaque",
        load: Load::WrkClientCredentials,
        client: ClientRole::CcOpaque,
        shape: TokenShape::Opaque,
        peer: Some(PeerMode::Opaque),
        status: Status::Ready,
    },
    Scenario {
        id: "b",
        title: "client_credentials, JWT RS256",
        load: Load::WrkClientCredentials,
        client: ClientRole::CcRs256,
        shape: TokenShape::Jwt("RS256"),
        peer: Some(PeerMode::Jwt),
        status: Status::Ready,
    },
    Scenario {
        id: "c-es256",
        title: "client_credentials, JWT ES256",
        load: Load::WrkClientCredentials,
        client: ClientRole::CcEs256,
        shape: TokenShape::Jwt("ES256"),
        peer: None,
        status: Status::Ready,
    },
    Scenario {
        id: "c-eddsa",
        title: "client_credentials, JWT EdDSA",
        load: Load::WrkClientCredentials,
        client: ClientRole::CcEdDsa,
        shape: TokenShape::Jwt("EdDSA"),
        peer: None,
        status: Status::Ready,
    },
    Scenario {
        id: "d",
        title: "introspection of an opaque token",
        load: Load::WrkIntrospect,
        client: ClientRole::CcOpaque,
        shape: TokenShape::Opaque,
        peer: Some(PeerMode::Opaque),
        status: Status::Ready,
    },
    Scenario {
        id: "e",
        title: "refresh_token with rotation, opaque (one chain per connection)",
        load: Load::Driver(DriverKind::Refresh),
        client: ClientRole::PasswordRefresh,
        shape: TokenShape::Opaque,
        peer: None,
        status: Status::Ready,
    },
    Scenario {
        id: "f",
        title: "password grant (Argon2id), opaque",
        load: Load::Driver(DriverKind::Password),
        client: ClientRole::PasswordRefresh,
        shape: TokenShape::Opaque,
        peer: None,
        status: Status::Ready,
    },
    Scenario {
        id: "g",
        title: "authorization code + PKCE, end to end, fresh browser (sign-in with Argon2id)",
        load: Load::Driver(DriverKind::AuthCode { sso: false }),
        client: ClientRole::AuthCodePublic,
        shape: TokenShape::Opaque,
        peer: None,
        status: Status::Ready,
    },
    Scenario {
        id: "g-sso",
        title: "authorization code + PKCE, end to end, signed-in browser (consent remembered)",
        load: Load::Driver(DriverKind::AuthCode { sso: true }),
        client: ClientRole::AuthCodePublic,
        shape: TokenShape::Opaque,
        peer: None,
        status: Status::Ready,
    },
    Scenario {
        id: "h",
        title: "client_credentials, opaque, new connection per request",
        load: Load::Driver(DriverKind::ClientCredentials { new_conn: true }),
        client: ClientRole::CcOpaque,
        shape: TokenShape::Opaque,
        peer: None,
        status: Status::Ready,
    },
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique() {
        let mut ids: Vec<_> = SCENARIOS.iter().map(|s| s.id).collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), SCENARIOS.len());
    }
}
