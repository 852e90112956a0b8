//! Diesel's view of the tables, written by hand in `diesel print-schema`
//! style. It mirrors `migrations/{sqlite,postgres}` (both dialects declare
//! the same columns with the same types); `tests::migrations` selects every
//! column of every table on both backends after migrating and compares the
//! column lists with the database's, so a drift fails the tests.

diesel::table! {
    clients (id) {
        id -> Text,
        secret_hash -> Nullable<Text>,
        name -> Text,
        auth_method -> Text,
        redirect_uris -> Text,
        post_logout_redirect_uris -> Text,
        grant_types -> Text,
        response_types -> Text,
        scope -> Text,
        access_token_format -> Text,
        signing_alg -> Text,
        application_type -> Text,
        metadata -> Text,
        registration_token_hash -> Nullable<Text>,
        is_resource_server -> Bool,
        first_party -> Bool,
        disabled -> Bool,
        created_at -> BigInt,
        updated_at -> BigInt,
        secret_expires_at -> BigInt,
        last_used_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    users (id) {
        id -> Text,
        username -> Text,
        email -> Nullable<Text>,
        email_verified -> Bool,
        password_hash -> Nullable<Text>,
        is_admin -> Bool,
        disabled -> Bool,
        totp_secret -> Nullable<Text>,
        totp_last_step -> Nullable<BigInt>,
        created_at -> BigInt,
        updated_at -> BigInt,
    }
}

diesel::table! {
    signing_keys (kid) {
        kid -> Text,
        alg -> Text,
        private_key -> Text,
        public_jwk -> Text,
        created_at -> BigInt,
        activates_at -> BigInt,
        retires_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    sessions (id) {
        id -> Text,
        user_id -> Nullable<Text>,
        client_id -> Text,
        kind -> Text,
        auth_time -> BigInt,
        amr -> Text,
        created_at -> BigInt,
        last_used_at -> BigInt,
        expires_at -> BigInt,
        revoked_at -> Nullable<BigInt>,
        user_agent -> Nullable<Text>,
    }
}

diesel::table! {
    browser_sessions (id_hash) {
        id_hash -> Text,
        user_id -> Text,
        auth_time -> BigInt,
        amr -> Text,
        created_at -> BigInt,
        last_seen_at -> BigInt,
        expires_at -> BigInt,
        revoked_at -> Nullable<BigInt>,
        user_agent -> Nullable<Text>,
    }
}

diesel::table! {
    authorization_codes (code_hash) {
        code_hash -> Text,
        client_id -> Text,
        user_id -> Text,
        browser_session_id -> Nullable<Text>,
        session_id -> Nullable<Text>,
        redirect_uri -> Text,
        scope -> Text,
        resource -> Text,
        nonce -> Nullable<Text>,
        code_challenge -> Text,
        code_challenge_method -> Text,
        auth_time -> BigInt,
        amr -> Text,
        created_at -> BigInt,
        expires_at -> BigInt,
        consumed_at -> Nullable<BigInt>,
        dpop_jkt -> Nullable<Text>,
    }
}

diesel::table! {
    access_tokens (jti) {
        jti -> Text,
        token_hash -> Nullable<Text>,
        format -> Text,
        session_id -> Nullable<Text>,
        client_id -> Text,
        user_id -> Nullable<Text>,
        scope -> Text,
        audience -> Text,
        issued_at -> BigInt,
        expires_at -> BigInt,
        revoked_at -> Nullable<BigInt>,
        dpop_jkt -> Nullable<Text>,
    }
}

diesel::table! {
    refresh_tokens (token_hash) {
        token_hash -> Text,
        session_id -> Text,
        client_id -> Text,
        user_id -> Nullable<Text>,
        scope -> Text,
        audience -> Text,
        issued_at -> BigInt,
        expires_at -> BigInt,
        consumed_at -> Nullable<BigInt>,
        revoked_at -> Nullable<BigInt>,
        parent_hash -> Nullable<Text>,
        resource -> Text,
        dpop_jkt -> Nullable<Text>,
    }
}

diesel::table! {
    consents (user_id, client_id) {
        user_id -> Text,
        client_id -> Text,
        scope -> Text,
        granted_at -> BigInt,
        updated_at -> BigInt,
    }
}

diesel::table! {
    personal_access_tokens (id) {
        id -> Text,
        token_hash -> Text,
        user_id -> Text,
        name -> Text,
        scope -> Text,
        kind -> Text,
        client_id -> Nullable<Text>,
        created_at -> BigInt,
        expires_at -> Nullable<BigInt>,
        last_used_at -> Nullable<BigInt>,
        disabled -> Bool,
        revoked_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    audit_events (id) {
        id -> Text,
        at -> BigInt,
        kind -> Text,
        user_id -> Nullable<Text>,
        client_id -> Nullable<Text>,
        session_id -> Nullable<Text>,
        detail -> Text,
    }
}

diesel::table! {
    server_secrets (name) {
        name -> Text,
        value -> Text,
        created_at -> BigInt,
    }
}

diesel::table! {
    login_attempts (key) {
        key -> Text,
        failures -> Integer,
        window_start -> BigInt,
        blocked_until -> Nullable<BigInt>,
    }
}

diesel::table! {
    initial_access_tokens (token_hash) {
        token_hash -> Text,
        created_at -> BigInt,
        expires_at -> Nullable<BigInt>,
        max_uses -> Nullable<BigInt>,
        uses -> BigInt,
    }
}

diesel::table! {
    recovery_codes (user_id, code_hash) {
        user_id -> Text,
        code_hash -> Text,
        created_at -> BigInt,
        used_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    device_codes (device_code_hash) {
        device_code_hash -> Text,
        user_code_hash -> Text,
        client_id -> Text,
        scope -> Text,
        resource -> Text,
        poll_interval -> BigInt,
        created_at -> BigInt,
        expires_at -> BigInt,
        last_polled_at -> Nullable<BigInt>,
        user_id -> Nullable<Text>,
        auth_time -> Nullable<BigInt>,
        amr -> Text,
        approved_at -> Nullable<BigInt>,
        denied_at -> Nullable<BigInt>,
        consumed_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    pushed_requests (uri_hash) {
        uri_hash -> Text,
        client_id -> Text,
        params -> Text,
        created_at -> BigInt,
        expires_at -> BigInt,
        used_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    used_jtis (key) {
        key -> Text,
        expires_at -> BigInt,
    }
}

diesel::joinable!(sessions -> users (user_id));
diesel::joinable!(sessions -> clients (client_id));
diesel::joinable!(browser_sessions -> users (user_id));
diesel::joinable!(authorization_codes -> clients (client_id));
diesel::joinable!(authorization_codes -> users (user_id));
diesel::joinable!(authorization_codes -> sessions (session_id));
diesel::joinable!(access_tokens -> sessions (session_id));
diesel::joinable!(access_tokens -> clients (client_id));
diesel::joinable!(access_tokens -> users (user_id));
diesel::joinable!(refresh_tokens -> sessions (session_id));
diesel::joinable!(refresh_tokens -> clients (client_id));
diesel::joinable!(refresh_tokens -> users (user_id));
diesel::joinable!(consents -> users (user_id));
diesel::joinable!(consents -> clients (client_id));
diesel::table! {
    passkeys (id) {
        id -> Text,
        user_id -> Text,
        name -> Text,
        credential_id -> Text,
        credential -> Text,
        kind -> Text,
        created_at -> BigInt,
        last_used_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    cache_epochs (name) {
        name -> Text,
        epoch -> BigInt,
    }
}

diesel::joinable!(personal_access_tokens -> users (user_id));
diesel::joinable!(passkeys -> users (user_id));
diesel::joinable!(personal_access_tokens -> clients (client_id));
diesel::joinable!(recovery_codes -> users (user_id));

diesel::allow_tables_to_appear_in_same_query!(
    clients,
    users,
    signing_keys,
    sessions,
    browser_sessions,
    authorization_codes,
    access_tokens,
    refresh_tokens,
    consents,
    personal_access_tokens,
    audit_events,
    server_secrets,
    login_attempts,
    initial_access_tokens,
    recovery_codes,
    device_codes,
    pushed_requests,
    used_jtis,
    passkeys,
    cache_epochs,
);

/// Every table that holds records, for checks that visit them all
/// (`cache_epochs` holds none).
pub const TABLES: [&str; 19] = [
    "clients",
    "users",
    "signing_keys",
    "sessions",
    "browser_sessions",
    "authorization_codes",
    "access_tokens",
    "refresh_tokens",
    "consents",
    "personal_access_tokens",
    "audit_events",
    "server_secrets",
    "login_attempts",
    "initial_access_tokens",
    "recovery_codes",
    "device_codes",
    "pushed_requests",
    "used_jtis",
    "passkeys",
];
