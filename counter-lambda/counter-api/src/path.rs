//! Page paths: strict query decoding, validation and the allow-list.
//!
//! Pure code with no I/O. Everything a request says about *which counter* it
//! means passes through here before the store is touched, so a property test
//! over this module is a proof that no rejected input reaches DynamoDB.

use std::fmt;

/// The longest page path accepted, in bytes (UTF-8, after percent-decoding).
/// `openapi.yaml` states the same limit; a test keeps the two equal.
pub const MAX_PATH_BYTES: usize = 256;

/// The longest raw query string accepted, in bytes. Far above anything a
/// valid request needs (`path=` plus a 256-byte path, percent-encoded
/// three bytes per byte at worst).
pub const MAX_QUERY_BYTES: usize = 2048;

/// Why a query string or a path was refused. The `Display` text is what the
/// client reads in `message`: it names the rule, never internals.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    #[error("the query parameter `path` is required")]
    Missing,
    #[error("the query parameter `path` was given more than once")]
    Repeated,
    #[error("the query string is longer than {MAX_QUERY_BYTES} bytes")]
    QueryTooLong,
    #[error("the query string has an invalid percent-escape")]
    BadEscape,
    #[error("the path is not valid UTF-8")]
    NotUtf8,
    #[error("the path must start with `/`")]
    NotAbsolute,
    #[error("the path is longer than {MAX_PATH_BYTES} bytes")]
    TooLong,
    #[error("the path contains a control character")]
    ControlCharacter,
    #[error("the path is not in the allow-list")]
    NotAllowed,
}

impl PathError {
    /// The stable machine-readable code sent as `error`.
    pub fn code(&self) -> &'static str {
        match self {
            PathError::Missing => "missing_path",
            PathError::Repeated => "repeated_path",
            PathError::QueryTooLong => "query_too_long",
            PathError::BadEscape => "invalid_escape",
            PathError::NotUtf8 | PathError::NotAbsolute | PathError::ControlCharacter => {
                "invalid_path"
            }
            PathError::TooLong => "path_too_long",
            PathError::NotAllowed => "path_not_allowed",
        }
    }
}

/// Every [`PathError`], so tests can compare their codes with the contract
/// without a hand-written list that a new variant could slip past.
impl PathError {
    pub const ALL: [PathError; 9] = [
        PathError::Missing,
        PathError::Repeated,
        PathError::QueryTooLong,
        PathError::BadEscape,
        PathError::NotUtf8,
        PathError::NotAbsolute,
        PathError::TooLong,
        PathError::ControlCharacter,
        PathError::NotAllowed,
    ];

    /// Where a variant sits in [`PathError::ALL`]. The match names every
    /// variant, so a new one does not compile until it is given a place
    /// here; the check below then fails the build until `ALL` holds it there.
    const fn position(&self) -> usize {
        match self {
            PathError::Missing => 0,
            PathError::Repeated => 1,
            PathError::QueryTooLong => 2,
            PathError::BadEscape => 3,
            PathError::NotUtf8 => 4,
            PathError::NotAbsolute => 5,
            PathError::TooLong => 6,
            PathError::ControlCharacter => 7,
            PathError::NotAllowed => 8,
        }
    }
}

/// `ALL` and `position` agree: each place holds its own variant, so `ALL`
/// has each variant once and a variant given a place is in `ALL`.
const _: () = {
    let mut i = 0;
    while i < PathError::ALL.len() {
        assert!(
            PathError::ALL[i].position() == i,
            "PathError::ALL must list each variant at its position()"
        );
        i += 1;
    }
};

/// Decodes one `application/x-www-form-urlencoded` component strictly:
/// `+` is a space, `%XY` needs two hex digits, anything else is itself.
/// Unlike lenient decoders, a broken escape is an error, not passed through.
pub fn decode_component(raw: &str) -> Result<Vec<u8>, PathError> {
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b'%' => {
                let hex = |b: u8| (b as char).to_digit(16);
                let (Some(hi), Some(lo)) = (
                    bytes.get(i + 1).copied().and_then(hex),
                    bytes.get(i + 2).copied().and_then(hex),
                ) else {
                    return Err(PathError::BadEscape);
                };
                out.push((hi * 16 + lo) as u8);
                i += 3;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    Ok(out)
}

/// Percent-encodes a query component: unreserved characters and `/` stay,
/// every other byte becomes `%XY`. What clients of the API send; the inverse
/// of [`decode_component`].
pub fn encode_component(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    for b in raw.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~/".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Finds the single `path` parameter of a raw query string and decodes it.
/// Other parameters are ignored (a cache-buster does no harm), but every
/// parameter must decode cleanly: a request with a broken escape anywhere
/// is malformed as a whole.
pub fn path_from_query(raw_query: Option<&str>) -> Result<String, PathError> {
    let raw = raw_query.unwrap_or("");
    if raw.len() > MAX_QUERY_BYTES {
        return Err(PathError::QueryTooLong);
    }
    let mut found: Option<Vec<u8>> = None;
    for pair in raw.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let key = decode_component(key)?;
        let value = decode_component(value)?;
        if key == b"path" {
            if found.is_some() {
                return Err(PathError::Repeated);
            }
            found = Some(value);
        }
    }
    let bytes = found.ok_or(PathError::Missing)?;
    String::from_utf8(bytes).map_err(|_| PathError::NotUtf8)
}

/// Checks the shape of a decoded path: absolute, at most
/// [`MAX_PATH_BYTES`], no control characters (C0, DEL, C1).
pub fn validate_path(path: &str) -> Result<(), PathError> {
    if path.is_empty() {
        return Err(PathError::Missing);
    }
    if !path.starts_with('/') {
        return Err(PathError::NotAbsolute);
    }
    if path.len() > MAX_PATH_BYTES {
        return Err(PathError::TooLong);
    }
    if path.chars().any(char::is_control) {
        return Err(PathError::ControlCharacter);
    }
    Ok(())
}

/// One allow-list entry: an exact path, or `prefix/*` for everything below
/// `prefix/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathPattern {
    Exact(String),
    /// Holds the prefix with its trailing `/`: `/blog/*` matches `/blog/x`
    /// but neither `/blog` nor `/blogger`.
    Below(String),
}

impl PathPattern {
    pub fn parse(text: &str) -> Result<Self, PathError> {
        let text = text.trim();
        if let Some(prefix) = text.strip_suffix("/*") {
            let below = format!("{prefix}/");
            validate_path(&below)?;
            Ok(PathPattern::Below(below))
        } else {
            validate_path(text)?;
            Ok(PathPattern::Exact(text.to_owned()))
        }
    }

    pub fn matches(&self, path: &str) -> bool {
        match self {
            PathPattern::Exact(p) => p == path,
            PathPattern::Below(prefix) => path.len() > prefix.len() && path.starts_with(prefix),
        }
    }
}

impl fmt::Display for PathPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PathPattern::Exact(p) => f.write_str(p),
            PathPattern::Below(prefix) => write!(f, "{prefix}*"),
        }
    }
}

/// Which paths may be counted. `None` patterns means every valid path.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PathAllowList {
    patterns: Option<Vec<PathPattern>>,
}

impl PathAllowList {
    /// Every valid path is allowed.
    pub fn any() -> Self {
        Self { patterns: None }
    }

    pub fn only(patterns: Vec<PathPattern>) -> Self {
        Self {
            patterns: Some(patterns),
        }
    }

    /// Parses a comma-separated list (`/,/blog/*`); empty or `*` means any.
    pub fn parse(text: &str) -> Result<Self, PathError> {
        let text = text.trim();
        if text.is_empty() || text == "*" {
            return Ok(Self::any());
        }
        let patterns = text
            .split(',')
            .filter(|p| !p.trim().is_empty())
            .map(PathPattern::parse)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self::only(patterns))
    }

    /// Adds one more pattern (the load-test prefix, say) to a restricted list.
    pub fn with(mut self, pattern: PathPattern) -> Self {
        if let Some(patterns) = &mut self.patterns {
            patterns.push(pattern);
        }
        self
    }

    pub fn allows(&self, path: &str) -> bool {
        match &self.patterns {
            None => true,
            Some(patterns) => patterns.iter().any(|p| p.matches(path)),
        }
    }
}

/// The whole check, from a raw query string to a path safe to count.
pub fn counter_path(raw_query: Option<&str>, allow: &PathAllowList) -> Result<String, PathError> {
    let path = path_from_query(raw_query)?;
    validate_path(&path)?;
    if !allow.allows(&path) {
        return Err(PathError::NotAllowed);
    }
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn any_list() -> PathAllowList {
        PathAllowList::any()
    }

    #[test]
    fn decodes_plain_encoded_and_plus() {
        assert_eq!(
            counter_path(Some("path=%2Fa%20b+c"), &any_list()),
            Ok("/a b c".into())
        );
        assert_eq!(counter_path(Some("path=/"), &any_list()), Ok("/".into()));
        assert_eq!(
            counter_path(Some("x=1&path=/p&y"), &any_list()),
            Ok("/p".into())
        );
    }

    #[test]
    fn refuses_each_kind_of_bad_path() {
        let cases: &[(Option<&str>, PathError)] = &[
            (None, PathError::Missing),
            (Some(""), PathError::Missing),
            (Some("path="), PathError::Missing),
            (Some("page=/"), PathError::Missing),
            (Some("path=/a&path=/b"), PathError::Repeated),
            (Some("path=relative"), PathError::NotAbsolute),
            (Some("path=/%00"), PathError::ControlCharacter),
            (Some("path=/a%0Ab"), PathError::ControlCharacter),
            (Some("path=/%7F"), PathError::ControlCharacter),
            (Some("path=/%C2%85"), PathError::ControlCharacter),
            (Some("path=/%zz"), PathError::BadEscape),
            (Some("path=/%4"), PathError::BadEscape),
            (Some("path=/ok&x=%"), PathError::BadEscape),
            (Some("path=/%FF"), PathError::NotUtf8),
        ];
        for (query, want) in cases {
            assert_eq!(
                counter_path(*query, &any_list()).as_ref(),
                Err(want),
                "{query:?}"
            );
        }
        let long = format!("path=/{}", "a".repeat(MAX_PATH_BYTES));
        assert_eq!(
            counter_path(Some(&long), &any_list()),
            Err(PathError::TooLong)
        );
        let exact = format!("path=/{}", "a".repeat(MAX_PATH_BYTES - 1));
        assert!(counter_path(Some(&exact), &any_list()).is_ok());
        let huge = format!("path=/&pad={}", "a".repeat(MAX_QUERY_BYTES));
        assert_eq!(
            counter_path(Some(&huge), &any_list()),
            Err(PathError::QueryTooLong)
        );
    }

    #[test]
    fn allow_list_matches_exact_and_below_prefix() {
        let list = PathAllowList::parse("/, /blog/*").expect("valid list");
        assert!(list.allows("/"));
        assert!(list.allows("/blog/post-1"));
        assert!(!list.allows("/blog"));
        assert!(!list.allows("/blog/"));
        assert!(!list.allows("/blogger"));
        assert!(!list.allows("/about"));
        assert!(PathAllowList::parse("").expect("empty").allows("/anything"));
        assert!(PathAllowList::parse("*").expect("star").allows("/x"));
        assert_eq!(
            PathAllowList::parse("nope"),
            Err(PathError::NotAbsolute),
            "a bad pattern is a configuration error"
        );
        let extended = list.with(PathPattern::parse("/__loadtest/*").expect("valid"));
        assert!(extended.allows("/__loadtest/run-1"));
    }

    fn restricted() -> PathAllowList {
        PathAllowList::parse("/,/blog/*").expect("valid list")
    }

    proptest! {
        /// No input reaches the store unless it is a valid, allowed path:
        /// whatever `counter_path` accepts satisfies every rule on its own.
        #[test]
        fn whatever_is_accepted_is_valid_and_allowed(query in ".{0,300}") {
            for list in [any_list(), restricted()] {
                if let Ok(path) = counter_path(Some(&query), &list) {
                    prop_assert!(path.starts_with('/'));
                    prop_assert!(path.len() <= MAX_PATH_BYTES);
                    prop_assert!(!path.chars().any(char::is_control));
                    prop_assert!(list.allows(&path));
                }
            }
        }

        /// Encoding any valid path and decoding it gives the path back, so
        /// the check refuses only what it should.
        #[test]
        fn every_valid_path_round_trips(tail in "[^\\p{Cc}]{0,60}") {
            let path = format!("/{tail}");
            prop_assume!(path.len() <= MAX_PATH_BYTES);
            let encoded: String = path
                .bytes()
                .map(|b| format!("%{b:02X}"))
                .collect();
            let query = format!("path={encoded}");
            prop_assert_eq!(counter_path(Some(&query), &any_list()), Ok(path));
        }

        /// What `encode_component` writes, `decode_component` reads back.
        #[test]
        fn encoding_round_trips(raw in ".{0,80}") {
            let encoded = encode_component(&raw);
            prop_assert!(encoded.bytes().all(|b| b.is_ascii_graphic() && b != b'&' && b != b'+'));
            prop_assert_eq!(decode_component(&encoded), Ok(raw.into_bytes()));
        }

        /// A control character anywhere in the path is refused, encoded or not.
        #[test]
        fn control_characters_are_always_refused(
            head in "[a-z/]{0,20}",
            ctl in "\\p{Cc}",
            tail in "[a-z/]{0,20}",
        ) {
            let path = format!("/{head}{ctl}{tail}");
            let encoded: String = path.bytes().map(|b| format!("%{b:02X}")).collect();
            let query = format!("path={encoded}");
            prop_assert!(counter_path(Some(&query), &any_list()).is_err());
        }
    }
}
