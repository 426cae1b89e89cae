//! The requests a run sends, as the user describes them: the counting
//! request (`--request 'METHOD /path?query'`, `--request-body`, `-H`) and
//! the read around the load (`--read`, or `none`), with `{key}` standing
//! for the counter the run owns. Parsed once, before anything starts;
//! [`super::client`] sends them.

use std::fmt;
use std::str::FromStr;

use bytes::Bytes;
use hyper::header::{HeaderName, HeaderValue};
use hyper::{Method, Uri};

/// What `{key}` stands for in a request line (URL-encoded) and a body
/// (as it is).
pub const KEY: &str = "{key}";

/// Our contract's counting request.
pub const DEFAULT_REQUEST: &str = "POST /visits?path={key}";
/// Our contract's read.
pub const DEFAULT_READ: &str = "GET /visits?path={key}";

/// `METHOD /path?query`, `{key}` allowed anywhere after the method.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestLine {
    pub method: Method,
    /// Path and query, relative to `--host` (whose own path, an API
    /// Gateway stage, goes before it).
    pub target: String,
}

impl FromStr for RequestLine {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let bad = |why: &str| {
            format!("{s:?}: {why}; write it as 'METHOD /path?query', such as '{DEFAULT_REQUEST}'")
        };
        let mut parts = s.split_whitespace();
        let (Some(method), Some(target), None) = (parts.next(), parts.next(), parts.next()) else {
            return Err(bad("a method and a path, separated by one space"));
        };
        if !method.bytes().all(|b| b.is_ascii_uppercase()) {
            return Err(bad(
                "the method is upper-case letters (GET, POST, PUT, ...)",
            ));
        }
        let method = Method::from_bytes(method.as_bytes()).map_err(|_| bad("not a method"))?;
        if !target.starts_with('/') {
            return Err(bad("the path starts with / (the host is --host)"));
        }
        let without_key = target.replace(KEY, "k");
        if without_key.contains(['{', '}']) {
            return Err(bad("the only placeholder is {key}"));
        }
        without_key
            .parse::<Uri>()
            .map_err(|e| bad(&format!("not a path and query ({e})")))?;
        Ok(Self {
            method,
            target: target.to_owned(),
        })
    }
}

impl fmt::Display for RequestLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.method, self.target)
    }
}

impl RequestLine {
    /// The run's counter is named in it (a counter per key), else the
    /// counter is one the API chooses, which others may share.
    pub fn names_key(&self) -> bool {
        self.target.contains(KEY)
    }

    /// The path and query with `{key}` replaced by `key`, URL-encoded
    /// (every byte but RFC 3986's unreserved ones, `/` included, so the
    /// key is one path segment or one query value wherever it stands).
    pub fn target_for(&self, key: &str) -> String {
        self.target.replace(KEY, &encode(key))
    }
}

/// Percent-encodes all but RFC 3986's unreserved characters.
pub fn encode(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    for b in raw.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `--read`: a request whose answer is the count, or `none` (the API only
/// increments: the run's first and last requests are increments, and they
/// tell the count before and after).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReadLine {
    None,
    Request(RequestLine),
}

impl FromStr for ReadLine {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        if s.trim().eq_ignore_ascii_case("none") {
            return Ok(Self::None);
        }
        s.parse()
            .map(Self::Request)
            .map_err(|e| format!("{e}, or 'none' for an API that only increments"))
    }
}

/// `-H 'Name: value'`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    pub name: HeaderName,
    pub value: HeaderValue,
}

impl FromStr for Header {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        if s.starts_with("http://") || s.starts_with("https://") {
            return Err(format!(
                "{s:?} looks like a URL: -H adds a request header here ('Name: value', as curl's -H); the API's URL is --host"
            ));
        }
        let (name, value) = s
            .split_once(':')
            .ok_or_else(|| format!("{s:?} is not a header: write it as 'Name: value'"))?;
        let name = HeaderName::from_bytes(name.trim().as_bytes())
            .map_err(|_| format!("{:?} is not a header name", name.trim()))?;
        let value = HeaderValue::from_str(value.trim())
            .map_err(|_| format!("the value of {name} has characters a header cannot carry"))?;
        Ok(Self { name, value })
    }
}

/// The counting request in full, as the user described it.
#[derive(Debug, Clone)]
pub struct CountingRequest {
    pub line: RequestLine,
    pub body: Bytes,
    pub headers: Vec<Header>,
}

impl CountingRequest {
    /// The body with `{key}` replaced by `key` as it is.
    pub fn body_for(&self, key: &str) -> Bytes {
        match std::str::from_utf8(&self.body) {
            Ok(text) if text.contains(KEY) => Bytes::from(text.replace(KEY, key)),
            _ => self.body.clone(),
        }
    }

    /// The counter is the run's own: `{key}` is in the line or the body.
    pub fn names_key(&self) -> bool {
        self.line.names_key() || self.body.windows(KEY.len()).any(|w| w == KEY.as_bytes())
    }

    /// Our contract's request, as the default is.
    pub fn is_contract(&self) -> bool {
        self.line.to_string() == DEFAULT_REQUEST && self.body.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_lines_read_as_method_and_path_with_the_key_placeholder() {
        let r: RequestLine = DEFAULT_REQUEST.parse().expect("ours");
        assert_eq!(r.method, Method::POST);
        assert!(r.names_key());
        assert_eq!(
            r.target_for("/__loadtest/x 1"),
            "/visits?path=%2F__loadtest%2Fx%201"
        );
        let g: RequestLine = "GET /api/counter".parse().expect("a global counter");
        assert!(!g.names_key());
        assert_eq!(g.target_for("/k"), "/api/counter");
        let p: RequestLine = "PUT /count/{key}".parse().expect("in the path");
        assert_eq!(p.target_for("/a"), "/count/%2Fa");
        for bad in [
            "",
            "POST",
            "post /visits",
            "POST visits",
            "POST /a b",
            "POST /a?x={page}",
            "POST http://example.com/a",
        ] {
            assert!(bad.parse::<RequestLine>().is_err(), "{bad:?} refused");
        }
    }

    #[test]
    fn reads_are_a_request_or_none() {
        assert_eq!("none".parse::<ReadLine>(), Ok(ReadLine::None));
        assert!(matches!(
            DEFAULT_READ.parse::<ReadLine>(),
            Ok(ReadLine::Request(_))
        ));
        let e = "nothing".parse::<ReadLine>().expect_err("refused");
        assert!(e.contains("'none'"), "{e}");
    }

    #[test]
    fn headers_are_name_colon_value_and_a_url_is_not_one() {
        let h: Header = "Origin: https://example.com".parse().expect("a header");
        assert_eq!(h.name, "origin");
        assert_eq!(h.value, "https://example.com");
        let e = "https://example.com".parse::<Header>().expect_err("a URL");
        assert!(e.contains("--host"), "{e}");
        assert!("no colon".parse::<Header>().is_err());
        assert!("Bad Name: v".parse::<Header>().is_err());
    }

    #[test]
    fn the_key_is_found_in_the_line_or_the_body() {
        let req = |line: &str, body: &str| CountingRequest {
            line: line.parse().expect("line"),
            body: Bytes::from(body.to_owned()),
            headers: vec![],
        };
        assert!(req(DEFAULT_REQUEST, "").is_contract());
        assert!(!req("POST /count", "").names_key());
        let r = req("POST /count", r#"{"page": "{key}"}"#);
        assert!(r.names_key() && !r.is_contract());
        assert_eq!(r.body_for("/p"), Bytes::from(r#"{"page": "/p"}"#));
    }
}
