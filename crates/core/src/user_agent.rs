//! The `User-Agent` a session started from (RFC 9110 §10.1.5), kept to
//! show the user which device or software each session is: stored cleaned
//! and bounded ([`clean`]), shown in a short readable form ([`describe`]).
//! It is what the client says about itself, not a secret and not a proof.

/// The most characters of a `User-Agent` that are kept.
pub const MAX_CHARS: usize = 200;

/// `raw` without control characters, trimmed, at most [`MAX_CHARS`]
/// characters; `None` when nothing is left.
pub fn clean(raw: &str) -> Option<String> {
    let kept: String = raw
        .chars()
        .filter(|c| !c.is_control())
        .take(MAX_CHARS)
        .collect();
    let kept = kept.trim();
    (!kept.is_empty()).then(|| kept.to_string())
}

/// Browser product tokens, most specific first (Chromium-based browsers
/// also name Chrome and Safari; Chrome names Safari).
const BROWSERS: &[(&str, &str)] = &[
    ("Edg/", "Edge"),
    ("EdgA/", "Edge"),
    ("OPR/", "Opera"),
    ("SamsungBrowser/", "Samsung Internet"),
    ("HeadlessChrome/", "Headless Chrome"),
    ("Firefox/", "Firefox"),
    ("FxiOS/", "Firefox"),
    ("CriOS/", "Chrome"),
    ("Chrome/", "Chrome"),
    ("Chromium/", "Chromium"),
];

/// Operating system markers, most specific first (Android names Linux;
/// iOS names "like Mac OS X").
const SYSTEMS: &[(&str, &str)] = &[
    ("Windows", "Windows"),
    ("Android", "Android"),
    ("iPhone", "iOS"),
    ("iPad", "iPadOS"),
    ("CrOS", "ChromeOS"),
    ("Macintosh", "macOS"),
    ("Mac OS X", "macOS"),
    ("Linux", "Linux"),
];

fn first_match(ua: &str, table: &[(&str, &'static str)]) -> Option<&'static str> {
    table
        .iter()
        .find(|(marker, _)| ua.contains(marker))
        .map(|(_, name)| *name)
}

/// A short readable form of a stored `User-Agent`: "Chrome on Linux" for
/// a known browser, the string itself for anything else (an application's
/// HTTP client names itself, e.g. `my-cli/1.2`).
pub fn describe(ua: &str) -> String {
    let browser = first_match(ua, BROWSERS).or_else(|| {
        // Safari names itself only by `Version/` next to `Safari/`.
        (ua.contains("Safari/") && ua.contains("Version/")).then_some("Safari")
    });
    match (browser, first_match(ua, SYSTEMS)) {
        (Some(b), Some(os)) => format!("{b} on {os}"),
        (Some(b), None) => b.to_string(),
        (None, _) => ua.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clean_drops_control_characters_and_bounds_the_length() {
        assert_eq!(clean("  curl/8.5.0 \t"), Some("curl/8.5.0".into()));
        assert_eq!(clean("a\u{0}b\r\nc\u{7f}d"), Some("abcd".into()));
        assert_eq!(clean(" \r\n "), None);
        assert_eq!(clean(""), None);
        let long = "é".repeat(500);
        let kept = clean(&long).unwrap();
        assert_eq!(kept.chars().count(), MAX_CHARS);
        assert!(long.starts_with(&kept));
    }

    #[test]
    fn describe_names_browser_and_system() {
        let cases = [
            (
                "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36",
                "Chrome on Linux",
            ),
            (
                "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/120.0.6099.71 Safari/537.36",
                "Headless Chrome on Linux",
            ),
            (
                "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36 Edg/120.0.2210.91",
                "Edge on Windows",
            ),
            (
                "Mozilla/5.0 (Macintosh; Intel Mac OS X 10.15; rv:121.0) Gecko/20100101 Firefox/121.0",
                "Firefox on macOS",
            ),
            (
                "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1",
                "Safari on iOS",
            ),
            (
                "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.6099.43 Mobile Safari/537.36",
                "Chrome on Android",
            ),
            ("Mozilla/5.0 Firefox/121.0", "Firefox"),
            ("my-cli/1.2 (tv-box)", "my-cli/1.2 (tv-box)"),
            ("curl/8.5.0", "curl/8.5.0"),
        ];
        for (ua, want) in cases {
            assert_eq!(describe(ua), want, "{ua}");
        }
    }
}
