//! The API under load, as the user described it: how a visit is counted
//! (`--request`), where the count is in the answer (`--count-at`, found by
//! default), and how the count is read before and after (`--read`, or
//! `none`). Ours by default; anyone's counter with the options.
//!
//! Before the load the run reads the count, then sends its first counting
//! request (an operation of the history like any other) and shows the
//! answer and where the count was found in it; an answer the run cannot
//! read a count from stops it there (exit 2), naming what it saw. With
//! `--read none` the first and last counting requests stand for the reads:
//! the count before the run is the first one's count less one, the count
//! after is the last one's.

use std::time::{Duration, Instant};

use bytes::Bytes;

use super::client::{Client, Connection, Endpoint, Exchange, Prepared};
use super::request::{CountingRequest, DEFAULT_READ, DEFAULT_REQUEST, Header, ReadLine};
use super::status;
use crate::UsageError;
use crate::analysis::answer::{
    AnswerRule, CountPointer, Discovery, Refusals, StatusRange, discover, read_count,
};
use crate::analysis::observation::{Lateness, Observation, Outcome};
use crate::analysis::summary::RequestFacts;

/// Attempts at a read, or at the first and last counting requests, before
/// the run gives up on them.
const ATTEMPTS: u32 = 3;
/// How long a read or a probe may take.
const READ_TIMEOUT: Duration = Duration::from_secs(10);
/// At most this much of a body is shown in a message.
const SHOWN_BYTES: usize = 400;

/// The user's description of the API (the command line's part).
#[derive(Debug, Clone)]
pub struct ApiOptions {
    pub request: CountingRequest,
    pub count_at: Option<CountPointer>,
    /// `None`: the default (ours for our request, `none` for another).
    pub read: Option<ReadLine>,
    pub read_count_at: Option<CountPointer>,
    pub exclusive: bool,
    pub failed_status: Vec<StatusRange>,
    pub cacert: Option<std::path::PathBuf>,
}

impl ApiOptions {
    /// What can be checked before anything starts (no stage needed): the
    /// CA file, and that the read counts what the request counts.
    pub fn check(&self) -> Result<(), UsageError> {
        if let Some(path) = &self.cacert {
            super::client::check_cacert(path).map_err(|e| UsageError(e.to_string()))?;
        }
        if let Some(ReadLine::Request(r)) = &self.read
            && r.names_key()
            && !self.request.names_key()
        {
            return Err(UsageError(format!(
                "--read {r} names {{key}}, but --request {} does not: they must count and read the same counter",
                self.request.line
            )));
        }
        Ok(())
    }
}

/// The request line as the run's records keep it: query values replaced
/// (an API key in a query must not reach summary.json, run.json or an
/// uploaded artifact), names and `{key}` kept.
pub fn redact_query(line: &str) -> String {
    let Some((head, query)) = line.split_once('?') else {
        return line.to_owned();
    };
    let pairs: Vec<String> = query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((name, value)) if !value.contains(super::request::KEY) && !value.is_empty() => {
                format!("{name}={REDACTED}")
            }
            _ => pair.to_owned(),
        })
        .collect();
    format!("{head}?{}", pairs.join("&"))
}

/// What stands for a value kept out of the run's records.
pub const REDACTED: &str = "(redacted)";

/// The read around the load.
#[derive(Debug, Clone)]
enum Read {
    /// The first and last counting requests tell the count.
    None,
    Request {
        prepared: Box<Prepared>,
        count_at: Option<CountPointer>,
    },
}

/// The API, its requests prepared for the run's counter.
#[derive(Debug, Clone)]
pub struct Api {
    client: Client,
    pub counting: Prepared,
    read: Read,
    count_at: Option<CountPointer>,
    refusals: Refusals,
    /// What our contract's answer must carry (`path` = the key).
    expect: Option<(CountPointer, String)>,
    /// Others may count on the same counter (no `{key}`, no `--exclusive`).
    pub shared: bool,
    /// The request and read as the user wrote them, for the report.
    pub described: RequestFacts,
}

impl Api {
    /// The API at `host`, counting on `key`.
    pub fn new(host: &str, key: &str, o: &ApiOptions) -> Result<Self, UsageError> {
        let usage = |e: String| UsageError(e);
        let endpoint = Endpoint::parse(host).map_err(|e| usage(e.to_string()))?;
        let client =
            Client::new(endpoint, o.cacert.as_deref()).map_err(|e| usage(e.to_string()))?;
        let contract = o.request.is_contract();
        let read_line = match &o.read {
            Some(r) => r.clone(),
            None if contract => DEFAULT_READ.parse().map_err(usage)?,
            None => ReadLine::None,
        };
        if let ReadLine::Request(r) = &read_line
            && r.names_key()
            && !o.request.names_key()
        {
            return Err(usage(format!(
                "--read {r} names {{key}}, but --request {} does not: they must count and read the same counter",
                o.request.line
            )));
        }
        let line = &o.request.line;
        let counting = client
            .prepare(
                line.method.clone(),
                &line.target_for(key),
                &o.request.headers,
                o.request.body_for(key),
            )
            .map_err(|e| usage(format!("--request: {e}")))?;
        let read = match &read_line {
            ReadLine::None => Read::None,
            ReadLine::Request(r) => Read::Request {
                prepared: Box::new(
                    client
                        .prepare(
                            r.method.clone(),
                            &r.target_for(key),
                            &o.request.headers,
                            Bytes::new(),
                        )
                        .map_err(|e| usage(format!("--read: {e}")))?,
                ),
                count_at: o.read_count_at.clone().or_else(|| {
                    (o.read.is_none() && contract).then(|| CountPointer::member("count"))
                }),
            },
        };
        let refusals = match (contract, o.failed_status.is_empty()) {
            (_, false) => Refusals::Statuses(o.failed_status.clone()),
            (true, true) => Refusals::Contract,
            (false, true) => Refusals::GatewayOnly,
        };
        let shared = !o.request.names_key() && !o.exclusive;
        let count_at = o
            .count_at
            .clone()
            .or_else(|| contract.then(|| CountPointer::member("count")));
        Ok(Self {
            client,
            counting,
            read,
            count_at: count_at.clone(),
            refusals,
            expect: contract.then(|| (CountPointer::member("path"), key.to_owned())),
            shared,
            described: RequestFacts {
                request: redact_query(&line.to_string()),
                read: match &read_line {
                    ReadLine::None => "none".into(),
                    ReadLine::Request(r) => redact_query(&r.to_string()),
                },
                count_at: count_at.as_ref().map(CountPointer::to_string),
                read_count_at: o.read_count_at.as_ref().map(CountPointer::to_string),
                shared,
            },
        })
    }

    /// The count now, read as a run read it (`facts`, from its run.json or
    /// summary.json; `None`: our contract), at `host`: what `report` and
    /// `merge` do for a run that was killed before its own last read.
    /// `headers` and `cacert` are given again (run.json keeps no secrets).
    pub async fn read_again(
        host: &str,
        key: &str,
        facts: Option<&RequestFacts>,
        headers: &[Header],
        cacert: Option<&std::path::Path>,
    ) -> Result<u64, String> {
        let mut options = ApiOptions {
            cacert: cacert.map(std::path::Path::to_path_buf),
            ..ApiOptions::default()
        };
        options.request.headers = headers.to_vec();
        if let Some(f) = facts {
            if f.read.contains(REDACTED) {
                return Err(format!(
                    "the run's read ({}) had query values its records keep out: read the count yourself, or run again",
                    f.read
                ));
            }
            options.request.line = f.request.replace(REDACTED, "x").parse()?;
            options.read = Some(f.read.parse()?);
            options.read_count_at = f
                .read_count_at
                .as_deref()
                .map(str::parse)
                .transpose()
                .map_err(|e| format!("{e}"))?;
        }
        let mut api = Self::new(host, key, &options).map_err(|e| e.0)?;
        if api.reads_by_counting() {
            return Err("this run's API has no read (--read none): its count cannot be read now without counting".into());
        }
        api.read().await.map_err(|e| format!("{e:#}"))
    }

    /// Our contract's API at `host` (the local stage's warm-up, examples).
    pub fn ours(host: &str, key: &str) -> Result<Self, UsageError> {
        Self::new(host, key, &ApiOptions::default())
    }

    /// Our own contract's request and read: the count's place is known.
    pub fn is_contract(&self) -> bool {
        self.expect.is_some()
    }

    /// The counter, as the start-up line names it.
    pub fn counter_shown(&self, key: &str) -> String {
        match (self.described.request.contains(super::request::KEY), self.shared) {
            (true, _) => key.to_owned(),
            (false, true) => "the API's own (shared: others may count on it, so accounting is not judged; --exclusive if nobody else does)".into(),
            (false, false) => "the API's own (--exclusive: nobody else counts on it)".into(),
        }
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    /// How the run's answers are judged, once the count's place is known.
    pub fn rule(&self) -> Option<AnswerRule> {
        Some(AnswerRule {
            count_at: self.count_at.clone()?,
            expect: self.expect.clone(),
            refusals: self.refusals.clone(),
        })
    }

    /// The reads are increments (`--read none`).
    pub fn reads_by_counting(&self) -> bool {
        matches!(self.read, Read::None)
    }

    /// The count now, by the read (`--read`); its answer's count is found
    /// the first time and kept. Reads are retried: they count nothing.
    pub async fn read(&mut self) -> anyhow::Result<u64> {
        let Read::Request { prepared, count_at } = &mut self.read else {
            anyhow::bail!("this API has no read (--read none)");
        };
        let mut last = String::new();
        for attempt in 0..ATTEMPTS {
            if attempt > 0 {
                tokio::time::sleep(Duration::from_millis(200 * u64::from(attempt))).await;
            }
            let x = match Connection::default()
                .send(&self.client, prepared, READ_TIMEOUT)
                .await
            {
                Ok(x) => x,
                Err(e) => {
                    last = format!("{}: {e}", prepared.line());
                    continue;
                }
            };
            if !(200..=299).contains(&x.status) {
                last = format!(
                    "{} answered {}: {}",
                    prepared.line(),
                    x.status,
                    shown(&x.body)
                );
                if x.status >= 500 || x.status == 429 {
                    continue;
                }
                anyhow::bail!(last);
            }
            let pointer = match count_at {
                Some(p) => p.clone(),
                None => {
                    let found = found_in(&x, "--read-count-at", &prepared.line())?;
                    status(&format!(
                        "Read {}: {} {} → count {} at {}",
                        prepared.line(),
                        x.status,
                        shown(&x.body),
                        found.count,
                        found.pointer.quoted()
                    ));
                    count_at.insert(found.pointer).clone()
                }
            };
            return read_count(&x.body, &pointer).ok_or_else(|| {
                anyhow::Error::new(UsageError(format!(
                    "{} answered {} with no count at {}: {} (choose with --read-count-at)",
                    prepared.line(),
                    x.status,
                    pointer.quoted(),
                    shown(&x.body)
                )))
            });
        }
        anyhow::bail!(last)
    }

    /// The first counting request (or the last, with `--read none`), each
    /// attempt an operation of the history on `clock`. The first 2xx shows
    /// where the count is (found when nobody said). Our own contract's
    /// first request is one request like the run's others, whatever it
    /// answers; another API's is sent until it answers (at most
    /// [`ATTEMPTS`] times, past throttles and server errors), and an answer
    /// the run cannot read a count from stops it (exit 2). `need_count`:
    /// the count is needed (`--read none`), so no answer with one is an
    /// error.
    pub async fn probe(
        &mut self,
        clock: Instant,
        node: u16,
        need_count: bool,
    ) -> anyhow::Result<Probe> {
        let strict = self.expect.is_none() || self.count_at.is_none();
        let attempts = if strict || need_count { ATTEMPTS } else { 1 };
        let mut ops = Vec::new();
        let mut last = String::new();
        for attempt in 0..attempts {
            if attempt > 0 {
                tokio::time::sleep(Duration::from_millis(500 * u64::from(attempt))).await;
            }
            let start_ns = clock.elapsed().as_nanos() as u64;
            let sent = Connection::default()
                .send(&self.client, &self.counting, READ_TIMEOUT)
                .await;
            let end_ns = clock.elapsed().as_nanos() as u64;
            let answer = match &sent {
                Ok(x) => {
                    last = format!("{} {}", x.status, shown(&x.body));
                    self.judge_probe(x, strict)?
                }
                Err(e) => {
                    last = e.to_string();
                    ProbeAnswer::unanswered()
                }
            };
            ops.push(Observation {
                start_ns,
                end_ns,
                count: answer.count.unwrap_or(0),
                status: answer.status,
                node,
                outcome: answer.outcome,
                late: Lateness::ZERO,
            });
            if let Some(count) = answer.count {
                return Ok(Probe {
                    ops,
                    count: Some(count),
                });
            }
        }
        let line = self.counting.line();
        if need_count || self.count_at.is_none() {
            return Err(ProbeFailed {
                line,
                attempts,
                last,
                ops,
            }
            .into());
        }
        status(&format!(
            "First answer to {line}: {last} (no count: the run goes on, and judges what it gets)"
        ));
        Ok(Probe { ops, count: None })
    }

    /// One probe's answer. A 2xx fixes where the count is, the first
    /// time. `strict` (another API, or the count's place not yet known): a
    /// 2xx without a count, or a refusal that is neither a throttle nor a
    /// server error, means the request itself is wrong (exit 2).
    fn judge_probe(&mut self, x: &Exchange, strict: bool) -> anyhow::Result<ProbeAnswer> {
        let line = self.counting.line();
        let two = (200..=299).contains(&x.status);
        if two && self.count_at.is_none() {
            let found = found_in(x, "--count-at", &line)?;
            self.count_at = Some(found.pointer);
        }
        let (outcome, count) = match self.rule() {
            Some(rule) => rule.judge(x.status, Some(&x.body)),
            None if self.refusals.counted_nothing(x.status, &x.body) => (Outcome::Failed, 0),
            None => (Outcome::Unknown, 0),
        };
        let answer = ProbeAnswer {
            status: x.status,
            outcome,
            count: (outcome == Outcome::Ok).then_some(count),
        };
        let at = self.count_at.as_ref().map(CountPointer::quoted);
        if let (Some(count), Some(at)) = (answer.count, &at) {
            self.described.count_at = self.count_at.as_ref().map(CountPointer::to_string);
            status(&format!(
                "First answer to {line}: {} {} → count {count} at {at}",
                x.status,
                shown(&x.body)
            ));
            return Ok(answer);
        }
        let retry = x.status >= 500 || x.status == 429;
        if !strict || retry {
            return Ok(answer);
        }
        Err(UsageError(if two {
            let candidates = match discover(&x.body) {
                Discovery::Found(c) => format!(" (an integer is at '{}')", c.pointer),
                Discovery::Ambiguous(c) => format!(
                    " (integers are at {})",
                    c.iter()
                        .map(|c| format!("'{}'", c.pointer))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                Discovery::Nothing => String::new(),
            };
            format!(
                "{line} answered {} with no count at {}: {}{candidates}; say where the count is with --count-at",
                x.status,
                at.unwrap_or_default(),
                shown(&x.body)
            )
        } else {
            format!(
                "{line} was refused: {} {} (check --request, its headers (-H) and --host)",
                x.status,
                shown(&x.body)
            )
        })
        .into())
    }
}

/// What one probe got back.
struct ProbeAnswer {
    status: u16,
    outcome: Outcome,
    /// The count, when the answer was ok.
    count: Option<u64>,
}

impl ProbeAnswer {
    fn unanswered() -> Self {
        Self {
            status: 0,
            outcome: Outcome::Unknown,
            count: None,
        }
    }
}

impl Default for ApiOptions {
    fn default() -> Self {
        Self {
            request: CountingRequest {
                line: DEFAULT_REQUEST
                    .parse()
                    .unwrap_or_else(|e: String| unreachable!("{e}")),
                body: Bytes::new(),
                headers: Vec::<Header>::new(),
            },
            count_at: None,
            read: None,
            read_count_at: None,
            exclusive: false,
            failed_status: vec![],
            cacert: None,
        }
    }
}

/// The first (or last) counting request: the operations it took
/// (retries included) and the count, if one answered with it.
#[derive(Debug)]
pub struct Probe {
    pub ops: Vec<Observation>,
    pub count: Option<u64>,
}

/// No counting request before (or after) the load answered with a count.
#[derive(Debug, thiserror::Error)]
#[error("{line}: no count after {attempts} attempts (last: {last})")]
pub struct ProbeFailed {
    pub line: String,
    pub attempts: u32,
    pub last: String,
    /// What was sent: operations of the history all the same.
    pub ops: Vec<Observation>,
}

/// The one count in a first answer, or a usage error that shows the body
/// and the places to choose from.
fn found_in(
    x: &Exchange,
    option: &str,
    line: &str,
) -> Result<crate::analysis::answer::Candidate, UsageError> {
    match discover(&x.body) {
        Discovery::Found(c) => Ok(c),
        Discovery::Nothing => Err(UsageError(format!(
            "{line} answered {} with no integer in it: {}; a count is a number, a string of digits or plain text digits (say where with {option} POINTER)",
            x.status,
            shown(&x.body)
        ))),
        Discovery::Ambiguous(candidates) => {
            let list: Vec<String> = candidates
                .iter()
                .map(|c| format!("  {option} '{}'   ({})", c.pointer, c.count))
                .collect();
            Err(UsageError(format!(
                "{line} answered {} with several integers: {}\nsay which is the count:\n{}",
                x.status,
                shown(&x.body),
                list.join("\n")
            )))
        }
    }
}

/// A body as a message shows it: at most [`SHOWN_BYTES`], on one line.
pub fn shown(body: &[u8]) -> String {
    if body.is_empty() {
        return "(empty body)".into();
    }
    let text = String::from_utf8_lossy(&body[..body.len().min(SHOWN_BYTES)]);
    let mut line = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\n' => line.push_str("\\n"),
            '\r' => line.push_str("\\r"),
            '\t' => line.push_str("\\t"),
            c if c.is_control() => line.push_str(&c.escape_default().to_string()),
            c => line.push(c),
        }
    }
    if body.len() > SHOWN_BYTES {
        line.push_str(&format!("... ({} bytes)", body.len()));
    }
    line
}

#[cfg(test)]
mod redaction {
    use super::*;

    #[test]
    fn query_values_are_kept_out_of_the_records_but_names_and_the_key_stay() {
        assert_eq!(
            redact_query("POST /api/count?page={key}&code=s3cret"),
            "POST /api/count?page={key}&code=(redacted)"
        );
        assert_eq!(redact_query("GET /visits"), "GET /visits");
        assert_eq!(redact_query("GET /v?flag&x="), "GET /v?flag&x=");
    }
}
