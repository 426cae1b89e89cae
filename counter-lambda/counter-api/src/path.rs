//! Page paths: strict query decoding, validation and the allow-list.
//!
//! Pure code with no I/O. Everything a request says about *which counter* it
//! means passes through here before the store is touched, so a property test
//! over this module is a proof that no rejected input reaches DynamoDB.
//!
//! One page, one counter: a path is counted in its canonical form
//! ([`canonical_path`]), so spellings that mean the same page share an item.
//! - Percent-encoding: the query is decoded byte for byte (`%2F`, `%2f` and
//!   `/` are one byte), and [`encode_component`] writes exactly one
//!   spelling for each string.
//! - Unicode: the decoded path is normalised to NFC (`café` typed as `e` +
//!   combining accent is `café`), and its length is checked after that.
//! - Dot segments (`.` and `..`, also `%2E%2E`, which arrives decoded) are
//!   refused, not resolved (RFC 3986 §5.2.4 would resolve them). A browser
//!   resolves them before a page's script ever sees its path, so no real
//!   visit carries one; a request that does is hand-made, and refusing it
//!   means an accepted path is literally the page it names: `/blog/../admin`
//!   can never pass an allow-list entry `/blog/*`.

use std::fmt;

use unicode_normalization::{IsNormalized, UnicodeNormalization, is_nfc_quick};

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
    #[error("the path must not contain `.` or `..` segments")]
    DotSegment,
    #[error("the path is not in Unicode normalization form C (NFC)")]
    NotNfc,
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
            PathError::NotUtf8
            | PathError::NotAbsolute
            | PathError::ControlCharacter
            | PathError::DotSegment
            | PathError::NotNfc => "invalid_path",
            PathError::TooLong => "path_too_long",
            PathError::NotAllowed => "path_not_allowed",
        }
    }
}

/// Every [`PathError`], so tests can compare their codes with the contract
/// without a hand-written list that a new variant could slip past.
impl PathError {
    pub const ALL: [PathError; 11] = [
        PathError::Missing,
        PathError::Repeated,
        PathError::QueryTooLong,
        PathError::BadEscape,
        PathError::NotUtf8,
        PathError::NotAbsolute,
        PathError::TooLong,
        PathError::ControlCharacter,
        PathError::NotAllowed,
        PathError::DotSegment,
        PathError::NotNfc,
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
            PathError::DotSegment => 9,
            PathError::NotNfc => 10,
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
/// every other byte becomes `%XY` (upper-case hex). What clients of the API
/// send; the inverse of [`decode_component`], and canonical: every spelling
/// [`decode_component`] reads as one string is written back as one.
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

/// Checks that a decoded path is a canonical, valid page path as it
/// stands: absolute, at most [`MAX_PATH_BYTES`], no control characters
/// (C0, DEL, C1), no `.` or `..` segment, in Unicode NFC. What a client
/// checks before it sends a path (the load test's `--path`); the API
/// itself accepts any spelling that [`canonical_path`] turns into one.
pub fn validate_path(path: &str) -> Result<(), PathError> {
    validate_shape(path)?;
    if !is_nfc(path) {
        return Err(PathError::NotNfc);
    }
    Ok(())
}

/// The canonical form of a decoded path, the one that is counted: NFC,
/// then every rule of [`validate_path`] (the length is that of the NFC
/// form, which is what is stored).
pub fn canonical_path(path: &str) -> Result<String, PathError> {
    let path = if is_nfc(path) {
        path.to_owned()
    } else {
        path.nfc().collect()
    };
    validate_shape(&path)?;
    Ok(path)
}

fn is_nfc(path: &str) -> bool {
    match is_nfc_quick(path.chars()) {
        IsNormalized::Yes => true,
        IsNormalized::No => false,
        IsNormalized::Maybe => unicode_normalization::is_nfc(path),
    }
}

fn validate_shape(path: &str) -> Result<(), PathError> {
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
    if path
        .split('/')
        .any(|segment| segment == "." || segment == "..")
    {
        return Err(PathError::DotSegment);
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
    /// Parses one entry, in canonical form (NFC): a pattern is compared
    /// with canonical paths only.
    pub fn parse(text: &str) -> Result<Self, PathError> {
        let text = text.trim();
        if let Some(prefix) = text.strip_suffix("/*") {
            Ok(PathPattern::Below(canonical_path(&format!("{prefix}/"))?))
        } else {
            Ok(PathPattern::Exact(canonical_path(text)?))
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

/// The whole check, from a raw query string to a path safe to count, in
/// its canonical form.
pub fn counter_path(raw_query: Option<&str>, allow: &PathAllowList) -> Result<String, PathError> {
    let path = canonical_path(&path_from_query(raw_query)?)?;
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

    /// One spelling of `text` as a query value: for each byte, by
    /// `choices`, literal (where that reads back as the same byte),
    /// `%xx`, `%XX`, or `+` for a space.
    fn spell(text: &str, choices: &[u8]) -> String {
        text.bytes()
            .enumerate()
            .map(|(i, b)| match (choices.get(i % choices.len().max(1)), b) {
                (Some(0), b' ') => "+".to_owned(),
                (Some(0), b) if b.is_ascii_alphanumeric() || b"-_.~/".contains(&b) => {
                    (b as char).to_string()
                }
                (Some(1), b) => format!("%{b:02x}"),
                _ => format!("%{b:02X}"),
            })
            .collect()
    }

    /// RFC 3986 §5.2.4, written out from the RFC for the property above
    /// (the API refuses dot segments; this shows what resolving would do).
    fn remove_dot_segments(path: &str) -> String {
        let mut input = path.to_owned();
        let mut output = String::new();
        while !input.is_empty() {
            if let Some(rest) = input
                .strip_prefix("../")
                .or_else(|| input.strip_prefix("./"))
            {
                input = rest.to_owned();
            } else if input.starts_with("/./") {
                input.replace_range(..3, "/");
            } else if input == "/." {
                input = "/".to_owned();
            } else if input.starts_with("/../") || input == "/.." {
                let len = if input == "/.." { 3 } else { 4 };
                input.replace_range(..len, "/");
                let cut = output.rfind('/').unwrap_or(0);
                output.truncate(cut);
            } else if input == "." || input == ".." {
                input.clear();
            } else {
                let start = usize::from(input.starts_with('/'));
                let end = input[start..].find('/').map_or(input.len(), |i| i + start);
                output.push_str(&input[..end]);
                input.replace_range(..end, "");
            }
        }
        output
    }

    #[test]
    fn rfc_3986_dot_segment_removal_as_written() {
        // The RFC's own examples (§5.2.4).
        assert_eq!(remove_dot_segments("/a/b/c/./../../g"), "/a/g");
        assert_eq!(remove_dot_segments("/blog/../admin"), "/admin");
        assert_eq!(remove_dot_segments("/blog/post"), "/blog/post");
    }

    fn restricted() -> PathAllowList {
        PathAllowList::parse("/,/blog/*").expect("valid list")
    }

    #[test]
    fn dot_segments_are_refused_however_they_are_spelled() {
        for query in [
            "path=/.",
            "path=/..",
            "path=/blog/..",
            "path=/blog/../admin",
            "path=/blog/./post",
            "path=/blog/%2E%2E/admin",
            "path=/blog/%2e%2e/admin",
            "path=/blog/.%2E/admin",
            "path=%2Fblog%2F%2E%2E%2Fadmin",
        ] {
            for list in [any_list(), restricted()] {
                assert_eq!(
                    counter_path(Some(query), &list),
                    Err(PathError::DotSegment),
                    "{query}"
                );
            }
        }
        // Dots that are not a whole segment are ordinary characters.
        for path in ["/blog/...", "/blog/.hidden", "/blog/a..b", "/blog/post."] {
            assert_eq!(
                counter_path(Some(&format!("path={path}")), &restricted()).as_deref(),
                Ok(path)
            );
        }
        assert_eq!(
            PathAllowList::parse("/blog/../*"),
            Err(PathError::DotSegment),
            "a pattern with a dot segment is a configuration error"
        );
    }

    #[test]
    fn unicode_is_counted_in_nfc() {
        let nfc = "/blog/caf\u{e9}";
        let nfd = "/blog/cafe\u{301}";
        for spelling in [nfc, nfd] {
            let query = format!("path={}", encode_component(spelling));
            assert_eq!(
                counter_path(Some(&query), &restricted()).as_deref(),
                Ok(nfc)
            );
        }
        assert_eq!(validate_path(nfc), Ok(()));
        assert_eq!(validate_path(nfd), Err(PathError::NotNfc));
        let list = PathAllowList::parse("/caf\u{e9}/*").expect("valid");
        assert_eq!(
            PathAllowList::parse("/cafe\u{301}/*"),
            Ok(list),
            "patterns are canonical too"
        );
        // The limit applies to the stored (NFC) form: U+0958 is one of the
        // characters whose NFC form is longer (3 bytes -> 6).
        let grows = format!("/{}", "\u{958}".repeat(50));
        assert!(grows.len() <= MAX_PATH_BYTES);
        let query = format!("path={}", encode_component(&grows));
        assert_eq!(
            counter_path(Some(&query), &any_list()),
            Err(PathError::TooLong)
        );
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
                    prop_assert_eq!(validate_path(&path), Ok(()), "accepted paths are canonical");
                }
            }
        }

        /// Encoding any valid path and decoding it gives the path back, so
        /// the check refuses only what it should; any other spelling of a
        /// page with no dot segment gives its canonical form.
        #[test]
        fn every_valid_path_round_trips(tail in "[^\\p{Cc}]{0,60}") {
            let path = format!("/{tail}");
            prop_assume!(path.len() <= MAX_PATH_BYTES);
            prop_assume!(!path.split('/').any(|s| s == "." || s == ".."));
            let encoded: String = path
                .bytes()
                .map(|b| format!("%{b:02X}"))
                .collect();
            let query = format!("path={encoded}");
            let counted = counter_path(Some(&query), &any_list());
            if validate_path(&path).is_ok() {
                prop_assert_eq!(counted, Ok(path));
            } else {
                let nfc: String = path.nfc().collect();
                prop_assert_eq!(counted, canonical_path(&nfc));
                prop_assert_eq!(validate_path(&path), Err(PathError::NotNfc));
            }
        }

        /// What `encode_component` writes, `decode_component` reads back.
        #[test]
        fn encoding_round_trips(raw in ".{0,80}") {
            let encoded = encode_component(&raw);
            prop_assert!(encoded.bytes().all(|b| b.is_ascii_graphic() && b != b'&' && b != b'+'));
            prop_assert_eq!(decode_component(&encoded), Ok(raw.into_bytes()));
        }

        /// Every spelling of one page (each byte literal, `%xx` or `%XX`, a
        /// space as `+` or `%20`, the text in NFC or NFD) is one counter,
        /// and that counter is the canonical path.
        #[test]
        fn equivalent_spellings_map_to_one_item(
            segments in prop::collection::vec("[a-z0-9 +%&=~.éÉñøß\u{301}\u{308}한글]{1,8}", 1..5),
            choices in prop::collection::vec(0u8..4, 200),
        ) {
            let page: String = segments.iter().map(|s| format!("/{s}")).collect();
            let Ok(canonical) = canonical_path(&page) else {
                return Ok(()); // a dot segment or too long: refused in every spelling below
            };
            let nfd: String = page.nfd().collect();
            let expected = Ok(canonical.clone());
            for (form, text) in [("as typed", &page), ("NFD", &nfd), ("NFC", &canonical)] {
                let spellings = [encode_component(text), spell(text, &choices)];
                for spelling in spellings {
                    prop_assert_eq!(
                        &counter_path(Some(&format!("path={spelling}")), &any_list()),
                        &expected,
                        "{} spelled {:?}", form, spelling
                    );
                    // ...and the encoder writes that one page one way.
                    let decoded = decode_component(&spelling).expect("valid spelling");
                    let decoded = String::from_utf8(decoded).expect("UTF-8");
                    let canonical_spelling = encode_component(&canonical_path(&decoded).expect("valid"));
                    prop_assert_eq!(&canonical_spelling, &encode_component(&canonical));
                }
            }
        }

        /// No accepted path escapes its allow-list prefix: whatever a
        /// crafted query (dot segments plain or encoded, `%2F`, NFD) gets
        /// past `/blog/*` is below `/blog/` even after RFC 3986 dot-segment
        /// removal, which leaves it unchanged.
        #[test]
        fn no_accepted_path_escapes_its_prefix(
            parts in prop::collection::vec(
                prop::sample::select(vec![
                    "blog", "admin", "..", ".", "%2E%2E", "%2e.", ".%2E", "%2E", "%2F", "/", "", "x",
                    "cafe%CC%81", "caf%C3%A9", "...", "%2E%2E%2F",
                ]),
                1..8,
            ),
        ) {
            let query = format!("path=/{}", parts.join("/"));
            let list = PathAllowList::parse("/blog/*").expect("valid");
            if let Ok(path) = counter_path(Some(&query), &list) {
                prop_assert!(path.starts_with("/blog/"), "{} -> {}", query, path);
                prop_assert_eq!(&remove_dot_segments(&path), &path);
                prop_assert_eq!(validate_path(&path), Ok(()));
            }
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
