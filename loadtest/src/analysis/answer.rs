//! What a counter's answer means: where the count is in it, and whether a
//! refusal proves that nothing was counted. Pure: bytes in, verdicts out.
//!
//! The count is found by an RFC 6901 JSON pointer ([`CountPointer`]; `""`
//! is the whole body). A count is a non-negative integer: a JSON number
//! (`42`, or `42.0`), a JSON string of digits (`"42"`, as DynamoDB's `N`
//! attributes are often passed on), or, for the whole body only, plain
//! text digits. One extension, for APIs that answer with a whole Lambda
//! proxy result (`{"statusCode": 200, "body": "{\"count\": 42}"}`): a
//! pointer goes on *into* a string member that holds JSON, so `/body/count`
//! finds 42 there.
//!
//! Per request the count is read in one pass over the body without
//! building a document ([`read_count`]); only the first answer of a run is
//! searched for every candidate ([`discover`]), so a user need not name
//! the pointer when the answer has one integer in it.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

use super::observation::Outcome;

/// An RFC 6901 JSON pointer to the count: `""` (the whole body) or
/// `/a/b/0` (`~1` is `/` in a name, `~0` is `~`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CountPointer {
    tokens: Vec<String>,
}

/// A string that is not an RFC 6901 pointer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{0:?} is not a JSON pointer: use \"\" for the whole body, or /member/member (RFC 6901: ~1 for a / in a name, ~0 for ~)"
)]
pub struct PointerError(pub String);

impl std::str::FromStr for CountPointer {
    type Err = PointerError;

    fn from_str(s: &str) -> Result<Self, PointerError> {
        if s.is_empty() {
            return Ok(Self::default());
        }
        let rest = s
            .strip_prefix('/')
            .ok_or_else(|| PointerError(s.to_owned()))?;
        let tokens = rest
            .split('/')
            .map(|t| unescape(t).ok_or_else(|| PointerError(s.to_owned())))
            .collect::<Result<_, _>>()?;
        Ok(Self { tokens })
    }
}

fn unescape(token: &str) -> Option<String> {
    let mut out = String::with_capacity(token.len());
    let mut chars = token.chars();
    while let Some(c) = chars.next() {
        match c {
            '~' => match chars.next() {
                Some('0') => out.push('~'),
                Some('1') => out.push('/'),
                _ => return None,
            },
            c => out.push(c),
        }
    }
    Some(out)
}

impl fmt::Display for CountPointer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for t in &self.tokens {
            write!(f, "/{}", t.replace('~', "~0").replace('/', "~1"))?;
        }
        Ok(())
    }
}

impl CountPointer {
    /// The pointer to `name` at the top of a JSON object.
    pub fn member(name: &str) -> Self {
        Self {
            tokens: vec![name.to_owned()],
        }
    }

    /// The whole body.
    pub fn is_root(&self) -> bool {
        self.tokens.is_empty()
    }

    /// As written on a command line: `""` for the whole body.
    pub fn quoted(&self) -> String {
        if self.is_root() {
            "\"\" (the whole body)".to_owned()
        } else {
            self.to_string()
        }
    }

    fn child(&self, token: String) -> Self {
        let mut tokens = self.tokens.clone();
        tokens.push(token);
        Self { tokens }
    }
}

/// A count as text: ASCII digits (surrounding white space allowed), small
/// enough for a u64.
fn digits(text: &str) -> Option<u64> {
    let t = text.trim();
    if t.is_empty() || t.len() > 19 || !t.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    t.parse().ok()
}

/// A JSON number as a count: a non-negative integer (`42.0` too, as some
/// languages print whole numbers), exact below 2⁵³.
fn whole(v: f64) -> Option<u64> {
    (v.is_finite() && v >= 0.0 && v.fract() == 0.0 && v < 9_007_199_254_740_992.0)
        .then_some(v as u64)
}

/// What one pass over an answer found: the count at one pointer, and
/// whether the text at another equals what it must (our contract's
/// `path`).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Found {
    count: Option<u64>,
    equal: Option<bool>,
}

/// The two things a pass looks for: index 0 the count, index 1 the text
/// that must equal `expected`.
struct Targets<'a> {
    pointers: [&'a [String]; 2],
    expected: &'a str,
}

/// The count at `count_at` in `body` (and, with `expect`, whether the
/// string at that pointer equals the text), in one pass, allocating
/// nothing for member names without escapes.
fn read(body: &[u8], count_at: &CountPointer, expect: Option<(&CountPointer, &str)>) -> Found {
    let (expect_ptr, expected) = match expect {
        Some((p, t)) => (p.tokens.as_slice(), t),
        None => (&[][..], ""),
    };
    let targets = Targets {
        pointers: [&count_at.tokens, expect_ptr],
        expected,
    };
    let active = if expect.is_some() { 0b11 } else { 0b01 };
    let mut found = Found::default();
    let walk = Walk {
        targets: &targets,
        depth: 0,
        active,
        found: &mut found,
    };
    let mut de = serde_json::Deserializer::from_slice(body);
    let parsed = walk.deserialize(&mut de).and_then(|()| de.end());
    if parsed.is_err() {
        // Not JSON: plain text digits are a count, for the whole body only.
        let text = std::str::from_utf8(body).ok().and_then(digits);
        return Found {
            count: text.filter(|_| count_at.is_root()),
            equal: None,
        };
    }
    found
}

/// The count at `count_at` in an answer's body, if there is one there.
pub fn read_count(body: &[u8], count_at: &CountPointer) -> Option<u64> {
    read(body, count_at, None).count
}

struct Walk<'a> {
    targets: &'a Targets<'a>,
    depth: usize,
    /// Bit i: pointer i matches the path walked so far.
    active: u8,
    found: &'a mut Found,
}

impl Walk<'_> {
    /// The pointers that end here.
    fn ending(&self) -> u8 {
        self.select(|p, depth| p.len() == depth)
    }

    /// The pointers that go on below here.
    fn going_on(&self) -> u8 {
        self.select(|p, depth| p.len() > depth)
    }

    fn select(&self, keep: impl Fn(&[String], usize) -> bool) -> u8 {
        (0..2)
            .filter(|&i| self.active & (1 << i) != 0 && keep(self.targets.pointers[i], self.depth))
            .fold(0, |m, i| m | (1 << i))
    }

    /// The pointers among `mask` whose next token is `name`.
    fn entering(&self, mask: u8, name: &str) -> u8 {
        (0..2)
            .filter(|&i| mask & (1 << i) != 0 && self.targets.pointers[i][self.depth] == name)
            .fold(0, |m, i| m | (1 << i))
    }

    fn count(&mut self, count: Option<u64>) {
        let ending = self.ending();
        if ending & 1 != 0 {
            self.found.count = count;
        }
        if ending & 2 != 0 {
            self.found.equal = Some(false);
        }
    }

    fn text(&mut self, s: &str) {
        let ending = self.ending();
        if ending & 1 != 0 {
            self.found.count = digits(s);
        }
        if ending & 2 != 0 {
            self.found.equal = Some(s == self.targets.expected);
        }
        let deeper = self.going_on();
        if deeper != 0 && s.trim_start().starts_with(['{', '[']) {
            // A string holding JSON (a Lambda proxy result's `body`).
            let walk = Walk {
                targets: self.targets,
                depth: self.depth,
                active: deeper,
                found: &mut *self.found,
            };
            let mut de = serde_json::Deserializer::from_str(s);
            let _ = walk.deserialize(&mut de);
        }
    }
}

impl<'de> DeserializeSeed<'de> for Walk<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Walk<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_u64<E: de::Error>(mut self, v: u64) -> Result<(), E> {
        self.count(Some(v));
        Ok(())
    }

    fn visit_i64<E: de::Error>(mut self, v: i64) -> Result<(), E> {
        self.count(u64::try_from(v).ok());
        Ok(())
    }

    fn visit_f64<E: de::Error>(mut self, v: f64) -> Result<(), E> {
        self.count(whole(v));
        Ok(())
    }

    fn visit_bool<E: de::Error>(mut self, _: bool) -> Result<(), E> {
        self.count(None);
        Ok(())
    }

    fn visit_unit<E: de::Error>(mut self) -> Result<(), E> {
        self.count(None);
        Ok(())
    }

    fn visit_str<E: de::Error>(mut self, s: &str) -> Result<(), E> {
        self.text(s);
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(mut self, mut map: A) -> Result<(), A::Error> {
        self.count(None);
        let deeper = self.going_on();
        while let Some(name) = map.next_key_seed(Name)? {
            let mask = self.entering(deeper, &name);
            if mask == 0 {
                map.next_value::<IgnoredAny>()?;
            } else {
                map.next_value_seed(Walk {
                    targets: self.targets,
                    depth: self.depth + 1,
                    active: mask,
                    found: &mut *self.found,
                })?;
            }
        }
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(mut self, mut seq: A) -> Result<(), A::Error> {
        self.count(None);
        let deeper = self.going_on();
        let mut index = 0usize;
        loop {
            let mask = self.entering(deeper, &index.to_string());
            let more = if mask == 0 {
                seq.next_element::<IgnoredAny>()?.is_some()
            } else {
                seq.next_element_seed(Walk {
                    targets: self.targets,
                    depth: self.depth + 1,
                    active: mask,
                    found: &mut *self.found,
                })?
                .is_some()
            };
            if !more {
                return Ok(());
            }
            index += 1;
        }
    }
}

/// A member name, borrowed from the body when it has no escapes.
struct Name;

impl<'de> DeserializeSeed<'de> for Name {
    type Value = Cow<'de, str>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Cow<'de, str>, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for Name {
    type Value = Cow<'de, str>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a member name")
    }

    fn visit_borrowed_str<E: de::Error>(self, s: &'de str) -> Result<Cow<'de, str>, E> {
        Ok(Cow::Borrowed(s))
    }

    fn visit_str<E: de::Error>(self, s: &str) -> Result<Cow<'de, str>, E> {
        Ok(Cow::Owned(s.to_owned()))
    }
}

/// One place an answer holds an integer, and the integer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    pub pointer: CountPointer,
    pub count: u64,
}

/// Where the count is in a first answer, when nobody said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Discovery {
    /// Exactly one integer: the count.
    Found(Candidate),
    /// No integer anywhere.
    Nothing,
    /// Several: the user must choose (`--count-at`).
    Ambiguous(Vec<Candidate>),
}

/// At most this many candidates are listed, this deep.
const MAX_CANDIDATES: usize = 20;
const MAX_DEPTH: usize = 32;

/// Every integer in an answer (a number, a string of digits, text
/// digits for a whole body that is not JSON; strings holding JSON are
/// searched too).
pub fn discover(body: &[u8]) -> Discovery {
    let mut found = Vec::new();
    match serde_json::from_slice::<serde_json::Value>(body) {
        Ok(v) => collect(&v, &CountPointer::default(), 0, &mut found),
        Err(_) => {
            if let Some(n) = std::str::from_utf8(body).ok().and_then(digits) {
                found.push(Candidate {
                    pointer: CountPointer::default(),
                    count: n,
                });
            }
        }
    }
    found.sort_by_key(|c| c.pointer.to_string());
    match found.len() {
        0 => Discovery::Nothing,
        1 => Discovery::Found(found.remove(0)),
        _ => Discovery::Ambiguous(found),
    }
}

fn collect(v: &serde_json::Value, at: &CountPointer, depth: usize, out: &mut Vec<Candidate>) {
    use serde_json::Value;
    if depth > MAX_DEPTH || out.len() >= MAX_CANDIDATES {
        return;
    }
    let mut push = |count| {
        out.push(Candidate {
            pointer: at.clone(),
            count,
        })
    };
    match v {
        Value::Number(n) => {
            if let Some(c) = n.as_u64().or_else(|| n.as_f64().and_then(whole)) {
                push(c);
            }
        }
        Value::String(s) => {
            if let Some(c) = digits(s) {
                push(c);
            } else if s.trim_start().starts_with(['{', '['])
                && let Ok(inner) = serde_json::from_str::<Value>(s)
            {
                collect(&inner, at, depth + 1, out);
            }
        }
        Value::Object(members) => {
            for (name, value) in members {
                collect(value, &at.child(name.clone()), depth + 1, out);
            }
        }
        Value::Array(items) => {
            for (i, value) in items.iter().enumerate() {
                collect(value, &at.child(i.to_string()), depth + 1, out);
            }
        }
        Value::Bool(_) | Value::Null => {}
    }
}

/// Which refusals prove that nothing was counted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusals {
    /// Our contract: every 4xx is a request the API rejected before it
    /// counted (`openapi.yaml`: a rejected request never changes a counter).
    Contract,
    /// An API whose contract we do not know: only API Gateway's own
    /// refusals, which it answers before any function runs.
    GatewayOnly,
    /// The statuses the user says their API never counts on (`--failed-status`),
    /// and API Gateway's own refusals.
    Statuses(Vec<StatusRange>),
}

/// A status, or a class of them (`4xx`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatusRange {
    pub from: u16,
    pub to: u16,
}

impl std::str::FromStr for StatusRange {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let s = s.trim();
        let bad =
            || format!("{s:?} is not a status: use a code such as 409, or a class such as 4xx");
        if let Some(class) = s.strip_suffix("xx").or_else(|| s.strip_suffix("XX")) {
            let c: u16 = class.parse().map_err(|_| bad())?;
            if !(1..=5).contains(&c) {
                return Err(bad());
            }
            return Ok(Self {
                from: c * 100,
                to: c * 100 + 99,
            });
        }
        let code: u16 = s.parse().map_err(|_| bad())?;
        if !(100..=599).contains(&code) {
            return Err(bad());
        }
        Ok(Self {
            from: code,
            to: code,
        })
    }
}

/// API Gateway's own refusals: the request never reached a function, so
/// it counted nothing. Recognised by status and exact body, as API
/// Gateway writes them (its throttle: "Too Many Requests", docs
/// "Throttle requests to your HTTP APIs"; no route matched: "Not Found";
/// an authorizer or a missing key refused it: "Unauthorized", "Forbidden").
/// A function that answers one of these bodies itself is trusted to have
/// counted nothing either.
pub const GATEWAY_REFUSALS: [(u16, &str); 4] = [
    (429, "Too Many Requests"),
    (404, "Not Found"),
    (403, "Forbidden"),
    (401, "Unauthorized"),
];

/// The answer is one of API Gateway's own refusals.
pub fn is_gateway_refusal(status: u16, body: &[u8]) -> bool {
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Message<'a> {
        #[serde(borrow)]
        message: Cow<'a, str>,
    }
    GATEWAY_REFUSALS.iter().any(|&(s, text)| {
        s == status && serde_json::from_slice::<Message<'_>>(body).is_ok_and(|m| m.message == text)
    })
}

impl Refusals {
    /// A refusal with this status and body counted nothing.
    pub fn counted_nothing(&self, status: u16, body: &[u8]) -> bool {
        match self {
            Refusals::Contract => (400..=499).contains(&status),
            Refusals::GatewayOnly => is_gateway_refusal(status, body),
            Refusals::Statuses(listed) => {
                listed.iter().any(|r| (r.from..=r.to).contains(&status))
                    || is_gateway_refusal(status, body)
            }
        }
    }
}

/// How a run reads its counting requests' answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnswerRule {
    /// Where the count is.
    pub count_at: CountPointer,
    /// Text the answer must carry (our contract: its `path` is the run's
    /// key); an answer without it is not this counter's.
    pub expect: Option<(CountPointer, String)>,
    pub refusals: Refusals,
}

impl AnswerRule {
    /// Our contract: `{"path": <key>, "count": N}` to 200, 4xx counted nothing.
    pub fn contract(key: &str) -> Self {
        Self {
            count_at: CountPointer::member("count"),
            expect: Some((CountPointer::member("path"), key.to_owned())),
            refusals: Refusals::Contract,
        }
    }

    /// An answer → its outcome and count. A 2xx with a count at the
    /// pointer (and the expected text) is ok; a refusal that proves
    /// nothing counted is failed; anything else may have counted, so it is
    /// unknown. `None`: no answer came.
    pub fn judge(&self, status: u16, body: Option<&[u8]>) -> (Outcome, u64) {
        let Some(body) = body else {
            return (Outcome::Unknown, 0);
        };
        if (200..=299).contains(&status) {
            let expect = self.expect.as_ref().map(|(p, t)| (p, t.as_str()));
            let found = read(body, &self.count_at, expect);
            return match (found.count, expect.is_none() || found.equal == Some(true)) {
                (Some(count), true) => (Outcome::Ok, count),
                // A 2xx that makes no sense: the write may have happened.
                _ => (Outcome::Unknown, 0),
            };
        }
        if self.refusals.counted_nothing(status, body) {
            (Outcome::Failed, 0)
        } else {
            (Outcome::Unknown, 0)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ptr(s: &str) -> CountPointer {
        s.parse().expect("a pointer")
    }

    #[test]
    fn pointers_read_and_print_as_rfc_6901_says() {
        assert!(ptr("").is_root());
        assert_eq!(ptr("/a~1b/c~0d/0").tokens, ["a/b", "c~d", "0"]);
        assert_eq!(ptr("/a~1b/c~0d/0").to_string(), "/a~1b/c~0d/0");
        assert_eq!(ptr("/").tokens, [""]);
        for bad in ["count", "/a~2", "/a~"] {
            assert!(bad.parse::<CountPointer>().is_err(), "{bad}");
        }
    }

    #[test]
    fn the_count_is_read_where_the_pointer_says_in_every_shape() {
        let cases: &[(&str, &str, Option<u64>)] = &[
            ("42", "", Some(42)),
            ("42\n", "", Some(42)),
            ("\"42\"", "", Some(42)),
            ("Visitors: 42", "", None),
            ("{\"count\": 42}", "/count", Some(42)),
            ("{\"count\": \"42\"}", "/count", Some(42)),
            ("{\"count\": 42.0}", "/count", Some(42)),
            ("{\"count\": -1}", "/count", None),
            ("{\"count\": 4.5}", "/count", None),
            ("{\"count\": true}", "/count", None),
            (
                "{\"data\": {\"visits\": [7, 8]}}",
                "/data/visits/1",
                Some(8),
            ),
            ("{\"a\": {\"b\": 1}, \"c\": 2}", "/c", Some(2)),
            (
                "{\"Attributes\": {\"n\": {\"N\": \"12\"}}}",
                "/Attributes/n/N",
                Some(12),
            ),
            (
                "{\"statusCode\": 200, \"body\": \"{\\\"count\\\": 5}\"}",
                "/body/count",
                Some(5),
            ),
            ("{\"a~b\": 3}", "/a~0b", Some(3)),
            ("{\"count\": 42}", "/other", None),
            ("{\"count\": 42}", "", None),
            ("[1, 2]", "/1", Some(2)),
            ("not json", "/count", None),
        ];
        for (body, at, want) in cases {
            assert_eq!(
                read_count(body.as_bytes(), &ptr(at)),
                *want,
                "{body} at {at:?}"
            );
        }
    }

    #[test]
    fn the_first_answer_shows_where_its_one_integer_is() {
        let found = |body: &str| match discover(body.as_bytes()) {
            Discovery::Found(c) => Some((c.pointer.to_string(), c.count)),
            _ => None,
        };
        assert_eq!(found("42"), Some((String::new(), 42)));
        assert_eq!(found("  42 "), Some((String::new(), 42)));
        assert_eq!(found("\"42\""), Some((String::new(), 42)));
        assert_eq!(found("{\"visitors\": 7}"), Some(("/visitors".into(), 7)));
        assert_eq!(
            found("{\"path\": \"/a\", \"count\": 3}"),
            Some(("/count".into(), 3))
        );
        assert_eq!(
            found("{\"data\": {\"page\": \"/x\", \"views\": \"9\"}}"),
            Some(("/data/views".into(), 9))
        );
        assert_eq!(discover(b"<html>hello</html>"), Discovery::Nothing);
        assert_eq!(discover(b"{\"ok\": true}"), Discovery::Nothing);
        let Discovery::Ambiguous(c) =
            discover(b"{\"statusCode\": 200, \"body\": \"{\\\"count\\\": 5}\"}")
        else {
            panic!("two integers are ambiguous");
        };
        let pointers: Vec<String> = c.iter().map(|c| c.pointer.to_string()).collect();
        assert_eq!(pointers, ["/body/count", "/statusCode"]);
    }

    #[test]
    fn our_contract_wants_its_own_path_and_a_2xx_without_a_count_is_unknown() {
        let rule = AnswerRule::contract("/__loadtest/r");
        let ok = br#"{"path":"/__loadtest/r","count":7}"#;
        assert_eq!(rule.judge(200, Some(ok)), (Outcome::Ok, 7));
        let other = br#"{"path":"/elsewhere","count":7}"#;
        assert_eq!(rule.judge(200, Some(other)).0, Outcome::Unknown);
        let escaped = br#"{"count":7,"path":"\/__loadtest\/r"}"#;
        assert_eq!(rule.judge(200, Some(escaped)), (Outcome::Ok, 7));
        assert_eq!(rule.judge(200, Some(b"{}")).0, Outcome::Unknown);
        assert_eq!(rule.judge(200, None).0, Outcome::Unknown);
        assert_eq!(rule.judge(400, Some(b"{}")).0, Outcome::Failed);
        assert_eq!(rule.judge(503, Some(b"{}")).0, Outcome::Unknown);
    }

    #[test]
    fn an_unknown_api_fails_only_on_api_gateways_own_refusals() {
        let rule = AnswerRule {
            count_at: ptr(""),
            expect: None,
            refusals: Refusals::GatewayOnly,
        };
        assert_eq!(rule.judge(201, Some(b"5")), (Outcome::Ok, 5));
        let throttled = br#"{"message":"Too Many Requests"}"#;
        assert_eq!(rule.judge(429, Some(throttled)).0, Outcome::Failed);
        // The same status with a body of the function's own may have counted.
        assert_eq!(rule.judge(429, Some(b"slow down")).0, Outcome::Unknown);
        assert_eq!(rule.judge(400, Some(b"{}")).0, Outcome::Unknown);
        assert_eq!(
            rule.judge(404, Some(br#"{"message":"Not Found"}"#)).0,
            Outcome::Failed
        );
        assert_eq!(
            rule.judge(500, Some(br#"{"message":"Internal server error"}"#))
                .0,
            Outcome::Unknown
        );
        let listed = AnswerRule {
            refusals: Refusals::Statuses(vec!["4xx".parse().expect("class")]),
            ..rule
        };
        assert_eq!(listed.judge(409, Some(b"{}")).0, Outcome::Failed);
        assert_eq!(listed.judge(429, Some(throttled)).0, Outcome::Failed);
        assert_eq!(listed.judge(503, Some(b"{}")).0, Outcome::Unknown);
    }

    #[test]
    fn statuses_and_classes_parse_and_nonsense_does_not() {
        assert_eq!(
            "4xx".parse::<StatusRange>(),
            Ok(StatusRange { from: 400, to: 499 })
        );
        assert_eq!(
            "409".parse::<StatusRange>(),
            Ok(StatusRange { from: 409, to: 409 })
        );
        for bad in ["", "6xx", "99", "abc", "40x"] {
            assert!(bad.parse::<StatusRange>().is_err(), "{bad}");
        }
    }
}
