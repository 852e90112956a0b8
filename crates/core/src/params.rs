//! Request parameters (form body or query) as the RFCs read them.
//!
//! RFC 6749 §3.1/§3.2: "Parameters sent without a value MUST be treated as
//! if they were omitted from the request" and "Request and response
//! parameters MUST NOT be included more than once." RFC 8707 §2 lets
//! `resource` repeat; `audience` repeats likewise.

use std::collections::BTreeMap;

use crate::error::OAuthError;

/// Parameters that may appear more than once.
const REPEATABLE: &[&str] = &["resource", "audience"];

/// Most parameters a request may carry, and the longest value, so a hostile
/// body cannot make us build a huge map.
const MAX_PARAMS: usize = 64;
const MAX_VALUE_LEN: usize = 8 * 1024;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Params {
    map: BTreeMap<String, Vec<String>>,
}

impl Params {
    /// Parameters from `application/x-www-form-urlencoded` bytes: a form
    /// body (RFC 6749 §3.2) or a query string (§3.1). Invalid UTF-8 is
    /// read lossily, as the WHATWG form decoding does.
    pub fn from_urlencoded(input: &[u8]) -> Result<Params, OAuthError> {
        Params::parse(url::form_urlencoded::parse(input).into_owned())
    }

    pub fn parse(pairs: impl IntoIterator<Item = (String, String)>) -> Result<Params, OAuthError> {
        let mut map: BTreeMap<String, Vec<String>> = BTreeMap::new();
        let mut count = 0usize;
        for (k, v) in pairs {
            count += 1;
            if count > MAX_PARAMS {
                return Err(OAuthError::invalid_request("too many parameters"));
            }
            if v.len() > MAX_VALUE_LEN || k.len() > 256 {
                return Err(OAuthError::invalid_request(format!(
                    "parameter {} is too long",
                    printable(&k)
                )));
            }
            if v.is_empty() {
                continue;
            }
            let values = map.entry(k).or_default();
            values.push(v);
        }
        for (k, values) in &map {
            if values.len() > 1 && !REPEATABLE.contains(&k.as_str()) {
                return Err(OAuthError::invalid_request(format!(
                    "parameter {} is repeated",
                    printable(k)
                )));
            }
        }
        Ok(Params { map })
    }

    /// The single value of `key`, if present and non-empty.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.map
            .get(key)
            .and_then(|v| v.first())
            .map(String::as_str)
    }

    /// The value of `key`, or `invalid_request` naming it.
    pub fn require(&self, key: &str) -> Result<&str, OAuthError> {
        self.get(key)
            .ok_or_else(|| OAuthError::invalid_request(format!("missing parameter {key}")))
    }

    /// Every value of a repeatable parameter.
    pub fn all(&self, key: &str) -> &[String] {
        self.map.get(key).map(Vec::as_slice).unwrap_or(&[])
    }

    pub fn contains(&self, key: &str) -> bool {
        self.map.contains_key(key)
    }

    /// Set `key` to `value` unless the request sent it.
    pub fn set_if_absent(&mut self, key: &str, value: String) {
        if !value.is_empty() {
            self.map
                .entry(key.to_string())
                .or_insert_with(|| vec![value]);
        }
    }
}

/// A parameter name fit for an error description: short, printable.
fn printable(s: &str) -> String {
    s.chars().filter(|c| !c.is_control()).take(40).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(pairs: &[(&str, &str)]) -> Result<Params, OAuthError> {
        Params::parse(pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())))
    }

    #[test]
    fn empty_values_count_as_absent() {
        let params = p(&[("scope", ""), ("grant_type", "password")]).unwrap();
        assert_eq!(params.get("scope"), None);
        assert_eq!(params.get("grant_type"), Some("password"));
        // an empty duplicate is not a duplicate
        assert!(p(&[("scope", ""), ("scope", "a")]).is_ok());
    }

    #[test]
    fn duplicates_are_refused_except_resource_and_audience() {
        let e = p(&[("grant_type", "a"), ("grant_type", "a")]).unwrap_err();
        assert_eq!(e.code, crate::ErrorCode::InvalidRequest);
        let ok = p(&[
            ("resource", "https://a"),
            ("resource", "https://b"),
            ("audience", "x"),
            ("audience", "y"),
        ])
        .unwrap();
        assert_eq!(ok.all("resource").len(), 2);
        assert_eq!(ok.all("audience").len(), 2);
    }

    #[test]
    fn oversized_input_is_refused() {
        let long = "x".repeat(MAX_VALUE_LEN + 1);
        assert!(p(&[("code", long.as_str())]).is_err());
        let many: Vec<(String, String)> = (0..=MAX_PARAMS)
            .map(|i| (format!("k{i}"), "v".into()))
            .collect();
        assert!(Params::parse(many).is_err());
    }

    #[test]
    fn urlencoded_bytes_decode_like_a_form() {
        let params = Params::from_urlencoded(b"scope=openid+email&state=a%26b&nonce=").unwrap();
        assert_eq!(params.get("scope"), Some("openid email"));
        assert_eq!(params.get("state"), Some("a&b"));
        assert!(!params.contains("nonce"));
        let e = Params::from_urlencoded(b"state=a&state=b").unwrap_err();
        assert_eq!(e.code, crate::ErrorCode::InvalidRequest);
    }

    #[test]
    fn require_names_the_parameter() {
        let e = p(&[]).unwrap().require("username").unwrap_err();
        assert!(e.description.unwrap().contains("username"));
    }
}
