//! Small closed sets of values with their wire names.

use std::fmt;
use std::str::FromStr;

macro_rules! wire_enum {
    ($(#[$m:meta])* $name:ident { $($variant:ident => $wire:literal),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name { $($variant),+ }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $wire),+ }
            }
        }

        impl FromStr for $name {
            type Err = UnknownValue;
            fn from_str(s: &str) -> Result<Self, UnknownValue> {
                match s {
                    $($wire => Ok($name::$variant),)+
                    _ => Err(UnknownValue { kind: stringify!($name), value: s.chars().take(64).collect() }),
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result { f.write_str(self.as_str()) }
        }
    };
}

/// A value outside a closed set (the value is cut to 64 characters).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {kind}: {value:?}")]
pub struct UnknownValue {
    pub kind: &'static str,
    pub value: String,
}

wire_enum!(
    /// JWS algorithms Portcullis signs with (RFC 7518 §3.1, RFC 8037 §3.1).
    SigningAlg { Rs256 => "RS256", Es256 => "ES256", EdDsa => "EdDSA" }
);

wire_enum!(
    /// Access-token format, chosen per client (or per resource).
    TokenFormat { Jwt => "jwt", Opaque => "opaque" }
);

wire_enum!(
    /// Client authentication methods at the token endpoint (RFC 7591 §2).
    ClientAuthMethod {
        ClientSecretBasic => "client_secret_basic",
        ClientSecretPost => "client_secret_post",
        // RFC 7523 §2.2, OIDC Core §9: a JWT signed with the client's key.
        PrivateKeyJwt => "private_key_jwt",
        None => "none",
    }
);

wire_enum!(
    /// Grant types (RFC 6749 §4, RFC 7591 §2).
    GrantType {
        AuthorizationCode => "authorization_code",
        ClientCredentials => "client_credentials",
        Password => "password",
        RefreshToken => "refresh_token",
        // RFC 8693 §2.1.
        TokenExchange => "urn:ietf:params:oauth:grant-type:token-exchange",
        // RFC 8628 §3.4.
        DeviceCode => "urn:ietf:params:oauth:grant-type:device_code",
    }
);

wire_enum!(
    /// What kind of login started a session.
    SessionKind {
        Password => "password",
        LoginApi => "login_api",
        Browser => "browser",
        Device => "device",
    }
);

wire_enum!(
    /// Personal access tokens: made by a person, or minted for an MCP client.
    PatKind { Personal => "personal", Mcp => "mcp" }
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_wire_names() {
        for alg in SigningAlg::ALL {
            assert_eq!(alg.as_str().parse::<SigningAlg>().unwrap(), *alg);
        }
        assert_eq!(
            "none".parse::<ClientAuthMethod>().unwrap(),
            ClientAuthMethod::None
        );
        let err = "HS256".parse::<SigningAlg>().unwrap_err();
        assert_eq!(err.kind, "SigningAlg");
    }
}
