//! Turning exchanges into findings: pure functions over recorded data.
//!
//! Four kinds of check, each independent of how the data was gathered so that tests can feed
//! hand-made exchanges: failures of single exchanges, malformed or inconsistent values within one
//! response, headers present on one shape and missing on another (with the LiteLLM v3 signature
//! named when it matches), and counters that do not move the way requests say they should.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::endpoint::{Mode, Variant};
use crate::headers::{Family, LITELLM_ISSUE_URL, LITELLM_VERSION, Parsed, RateHeader, Role};
use crate::http::{Exchange, FailureKind, Shape};

use super::Gateway;

/// The kind of a finding; stable names for JSON consumers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FindingKind {
    /// LiteLLM's v3 limiter dropped its counters on streaming responses (#27748).
    LitellmV3StreamingDrop,
    /// LiteLLM's v3 limiter dropped its counters on plain-dict responses (#27748).
    LitellmV3PlainDictDrop,
    /// A rate-limit header present on one response shape is missing on another.
    MissingOnShape,
    /// A value does not parse in its dialect.
    MalformedValue,
    /// Values contradict each other (remaining above limit, limit not positive).
    InconsistentValue,
    /// A reset or wait is in the past or absurdly far away.
    ImplausibleReset,
    /// A remaining counter does not fall by one per request.
    CounterMismatch,
    /// An endpoint answered with an error status.
    EndpointError,
    /// A stream or body was cut, stalled or unreadable.
    BrokenResponse,
    /// A stream carried an error event.
    InStreamError,
}

/// Whether a finding is about headers (exit 1) or about the response itself (exit 5).
impl FindingKind {
    /// True for broken streams and bodies, which map to the protocol exit code.
    pub fn is_protocol(self) -> bool {
        matches!(self, FindingKind::BrokenResponse)
    }
}

/// One problem, with the evidence for it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Finding {
    /// What kind of problem.
    pub kind: FindingKind,
    /// The headers concerned, if any.
    pub headers: Vec<String>,
    /// One-line description.
    pub message: String,
    /// Where the header was present (`non-streaming chat/completions`, …).
    pub present_on: Vec<String>,
    /// Where it was missing.
    pub missing_on: Vec<String>,
    /// An upstream issue or documentation link.
    pub link: Option<String>,
}

impl Finding {
    fn new(kind: FindingKind, message: String) -> Self {
        Finding {
            kind,
            headers: Vec::new(),
            message,
            present_on: Vec::new(),
            missing_on: Vec::new(),
            link: None,
        }
    }
}

/// Reads the gateway's name and version from its headers.
pub fn fingerprint(exchanges: &[Exchange]) -> Gateway {
    let mut gw = Gateway::default();
    for ex in exchanges {
        if let Some(v) = ex.header(LITELLM_VERSION) {
            gw.name = Some("LiteLLM".into());
            gw.version = Some(v.to_string());
            return gw;
        }
        if ex
            .rate_headers
            .iter()
            .any(|h| matches!(h.family, Family::LitellmKeyLimit | Family::LitellmInfo))
        {
            gw.name = Some("LiteLLM".into());
        }
        if gw.name.is_none()
            && let Some(server) = ex.header("server")
        {
            gw.name = Some(server.to_string());
        }
    }
    gw
}

/// Runs every check; returns findings and notes.
pub fn analyze(exchanges: &[Exchange]) -> (Vec<Finding>, Vec<String>) {
    let mut findings = Vec::new();
    let mut notes = Vec::new();
    exchange_failures(exchanges, &mut findings);
    value_checks(exchanges, &mut findings);
    litellm_signature(exchanges, &mut findings, &mut notes);
    shape_comparison(exchanges, &mut findings);
    counter_checks(exchanges, &mut findings, &mut notes);
    (findings, notes)
}

fn label(v: Variant) -> String {
    v.to_string()
}

fn exchange_failures(exchanges: &[Exchange], out: &mut Vec<Finding>) {
    if !exchanges.is_empty() && exchanges.iter().all(|e| e.shape == Shape::NotOffered) {
        out.push(Finding::new(
            FindingKind::EndpointError,
            "none of the probed endpoints is offered at this URL (all answered 404 or 405): is it the gateway's base URL?".into(),
        ));
    }
    for ex in exchanges {
        let at = format!("{} (request {})", label(ex.variant), ex.seq);
        if let Some(f) = &ex.failure {
            match f.kind {
                FailureKind::StreamCut | FailureKind::BadBody | FailureKind::Timeout => {
                    out.push(Finding::new(
                        FindingKind::BrokenResponse,
                        format!("{at}: {}", f.message),
                    ));
                }
                // Connect and auth failures stop the probe and are reported as its abort.
                FailureKind::Connect | FailureKind::Auth => {}
            }
        }
        if ex.shape == Shape::Error && ex.failure.is_none() {
            let status = ex.status.unwrap_or_default();
            let what = if status == 429 {
                "was rate limited during the probe (429); wait for the window to pass, or use a key with more room"
            } else {
                "answered with an error"
            };
            let excerpt = ex
                .error_excerpt
                .as_deref()
                .map(|e| format!(": {e}"))
                .unwrap_or_default();
            out.push(Finding::new(
                FindingKind::EndpointError,
                format!("{at} {what} (status {status}){excerpt}"),
            ));
        }
        if let Some(err) = ex.stream.as_ref().and_then(|s| s.error_event.as_ref()) {
            out.push(Finding::new(
                FindingKind::InStreamError,
                format!("{at}: the stream carried an error event after status 200: {err}"),
            ));
        }
    }
}

/// Malformed values (one finding per header and reason), remaining above limit, implausible resets.
fn value_checks(exchanges: &[Exchange], out: &mut Vec<Finding>) {
    let mut malformed: BTreeMap<(String, String), BTreeSet<String>> = BTreeMap::new();
    let mut inconsistent: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut implausible: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for ex in exchanges {
        let at = label(ex.variant);
        let date = ex
            .header("date")
            .and_then(|d| httpdate::parse_http_date(d).ok())
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map(|d| d.as_secs_f64());
        for h in &ex.rate_headers {
            if let Parsed::Malformed { reason } = &h.parsed {
                let family = if h.family == Family::Provider {
                    " (upstream provider header)"
                } else {
                    ""
                };
                malformed
                    .entry((h.name.clone(), format!("{reason}{family}")))
                    .or_default()
                    .insert(at.clone());
            }
            if let Some(problem) = implausible_time(h, date) {
                implausible
                    .entry(format!("`{}: {}` {problem}", h.name, h.value))
                    .or_default()
                    .insert(at.clone());
            }
        }
        for problem in pair_problems(&ex.rate_headers) {
            inconsistent.entry(problem).or_default().insert(at.clone());
        }
    }
    for ((name, reason), at) in malformed {
        let mut f = Finding::new(
            FindingKind::MalformedValue,
            format!("`{name}` is malformed on {}: {reason}", join(&at)),
        );
        f.headers = vec![name];
        f.present_on = at.into_iter().collect();
        out.push(f);
    }
    for (problem, at) in inconsistent {
        out.push(Finding::new(
            FindingKind::InconsistentValue,
            format!("{problem} on {}", join(&at)),
        ));
    }
    for (problem, at) in implausible {
        out.push(Finding::new(
            FindingKind::ImplausibleReset,
            format!("{problem} on {}", join(&at)),
        ));
    }
}

/// A reset more than a day away, or a point in time well before the response's `Date`.
fn implausible_time(h: &RateHeader, date: Option<f64>) -> Option<String> {
    const DAY: f64 = 86_400.0;
    if !matches!(h.role, Role::Reset | Role::RetryAfter) {
        return None;
    }
    match h.parsed {
        Parsed::Seconds { value } if value > DAY * 1.01 => {
            Some(format!("asks for a wait of {value:.0} s, more than a day"))
        }
        Parsed::At { unix } => {
            let now = date.unwrap_or_else(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0.0, |d| d.as_secs_f64())
            });
            if unix < now - 5.0 {
                Some(format!("is {:.0} s in the past", now - unix))
            } else if unix > now + DAY * 1.01 {
                Some(format!("is {:.0} s away, more than a day", unix - now))
            } else {
                None
            }
        }
        _ => None,
    }
}

/// Within one response: remaining above limit, or a limit that is not positive.
fn pair_problems(headers: &[RateHeader]) -> Vec<String> {
    let mut out = Vec::new();
    let key = |h: &RateHeader| (h.family, h.scope.clone(), h.unit.clone());
    for limit in headers.iter().filter(|h| h.role == Role::Limit) {
        let Some(l) = limit.count() else { continue };
        // Azure's -1 means "unknown"; it is not a contradiction.
        if l == 0 || l < -1 {
            out.push(format!(
                "`{}: {}` is not a positive limit",
                limit.name, limit.value
            ));
        }
        let remaining = headers
            .iter()
            .filter(|h| h.role == Role::Remaining && key(h) == key(limit));
        for r in remaining {
            if let Some(rv) = r.count()
                && l > 0
                && rv > l
            {
                out.push(format!("`{}: {rv}` is above `{}: {l}`", r.name, limit.name));
            }
            if let Some(rv) = r.count()
                && rv < -1
            {
                out.push(format!("`{}: {rv}` is negative", r.name));
            }
        }
    }
    // IETF: remaining `r` above the quota `q` of the policy with the same name.
    let items = |role| {
        headers
            .iter()
            .filter(move |h| h.role == role)
            .flat_map(|h| match &h.parsed {
                Parsed::Policies { items } => items.clone(),
                _ => Vec::new(),
            })
    };
    for status in items(Role::Status) {
        for policy in items(Role::Policy).filter(|p| p.name == status.name) {
            if status.amount > policy.amount {
                out.push(format!(
                    "`RateLimit` remaining r={} is above `RateLimit-Policy` q={} for `{}`",
                    status.amount, policy.amount, status.name
                ));
            }
        }
    }
    out
}

/// Headers sharing where they were present and where missing: (present, missing, headers).
type Group = (Vec<String>, Vec<String>, Vec<(Family, String)>);

/// Headers compared across shapes, and where each was seen or missed.
fn shape_comparison(exchanges: &[Exchange], out: &mut Vec<Finding>) {
    let ok: Vec<&Exchange> = exchanges.iter().filter(|e| e.shape.is_success()).collect();
    let mut names: BTreeSet<(Family, String)> = BTreeSet::new();
    for ex in &ok {
        for h in &ex.rate_headers {
            if h.family.compared_across_shapes() {
                names.insert((h.family, h.name.clone()));
            }
        }
    }
    let variants = order_variants(&ok);
    // Headers that share the same present/missing sets become one finding: the v3 drop takes
    // all four counters at once, and four identical lines would bury the point.
    let mut groups: Vec<Group> = Vec::new();
    for (family, name) in names {
        let mut present = Vec::new();
        let mut missing = Vec::new();
        for v in &variants {
            let of_v: Vec<&&Exchange> = ok.iter().filter(|e| e.variant == *v).collect();
            let with = of_v
                .iter()
                .filter(|e| e.rate_header(&name).is_some())
                .count();
            if with > 0 {
                present.push(label(*v));
            }
            if with < of_v.len() {
                if with > 0 {
                    missing.push(format!(
                        "{} (in {} of {} rounds)",
                        label(*v),
                        of_v.len() - with,
                        of_v.len()
                    ));
                } else {
                    missing.push(label(*v));
                }
            }
        }
        if missing.is_empty() {
            continue;
        }
        match groups
            .iter_mut()
            .find(|(p, m, _)| *p == present && *m == missing)
        {
            Some((_, _, names)) => names.push((family, name)),
            None => groups.push((present, missing, vec![(family, name)])),
        }
    }
    for (present, missing, names) in groups {
        let shown: Vec<String> = names.iter().map(|(_, n)| format!("`{n}`")).collect();
        let mut f = Finding::new(
            FindingKind::MissingOnShape,
            format!(
                "{} present on {}, missing on {}",
                shown.join(", "),
                present.join(", "),
                missing.join(", ")
            ),
        );
        if names.iter().any(|(f, _)| *f == Family::LitellmDescriptor) {
            f.link = Some(LITELLM_ISSUE_URL.into());
        }
        f.headers = names.into_iter().map(|(_, n)| n).collect();
        f.present_on = present;
        f.missing_on = missing;
        out.push(f);
    }
}

fn order_variants(exchanges: &[&Exchange]) -> Vec<Variant> {
    let mut out: Vec<Variant> = Vec::new();
    for ex in exchanges {
        if !out.contains(&ex.variant) {
            out.push(ex.variant);
        }
    }
    out
}

fn has_family(ex: &Exchange, family: Family) -> bool {
    ex.rate_headers.iter().any(|h| h.family == family)
}

/// LiteLLM's v3 drop: limits configured (key-limit headers) and counters on non-streaming
/// responses, none on streams or on plain dicts.
fn litellm_signature(exchanges: &[Exchange], out: &mut Vec<Finding>, notes: &mut Vec<String>) {
    let ok: Vec<&Exchange> = exchanges.iter().filter(|e| e.shape.is_success()).collect();
    let control = |e: &&&Exchange| has_family(e, Family::LitellmKeyLimit);
    let counters = |e: &&&Exchange| has_family(e, Family::LitellmDescriptor);
    let is_litellm = exchanges
        .iter()
        .any(|e| e.header(LITELLM_VERSION).is_some() || has_family(e, Family::LitellmKeyLimit));
    if !is_litellm {
        return;
    }
    if !ok.iter().any(|e| control(&e)) && !ok.iter().any(|e| counters(&e)) {
        notes.push(format!(
            "LiteLLM without key limits: no `{}` header, so the key has no rpm/tpm limit and the v3 header check does not apply; probe with a key that has limits",
            crate::headers::LITELLM_KEY_RPM_LIMIT
        ));
        return;
    }
    for ex in &ok {
        if ex.variant.mode == Mode::Streaming && ex.shape == Shape::PlainDict {
            notes.push(format!(
                "{} asked for a stream and got JSON; it is checked as a plain dict, not as a stream",
                label(ex.variant)
            ));
        }
    }
    let with_counters: Vec<String> = in_send_order(
        ok.iter()
            .filter(|e| e.variant.mode == Mode::NonStreaming && counters(e))
            .map(|e| label(e.variant)),
    );
    if with_counters.is_empty() {
        return;
    }
    let dropped = |shape: Shape| -> Vec<String> {
        in_send_order(
            ok.iter()
                .filter(|e| e.shape == shape && control(e) && !counters(e))
                .map(|e| label(e.variant)),
        )
    };
    let descriptors: BTreeSet<String> = ok
        .iter()
        .flat_map(|e| e.rate_headers.iter())
        .filter(|h| h.family == Family::LitellmDescriptor)
        .map(|h| format!("`{}`", h.name))
        .collect();
    let streams = dropped(Shape::Sse);
    if !streams.is_empty() {
        let mut f = Finding::new(
            FindingKind::LitellmV3StreamingDrop,
            format!(
                "LiteLLM v3 limiter streaming header drop (BerriAI/litellm#27748): limits are configured (`x-litellm-key-*-limit` present) and {} are present on {} but absent on {}",
                join(&descriptors),
                with_counters.join(", "),
                streams.join(", ")
            ),
        );
        f.present_on = with_counters.clone();
        f.missing_on = streams;
        f.link = Some(LITELLM_ISSUE_URL.into());
        out.push(f);
    }
    let dicts = dropped(Shape::PlainDict);
    if !dicts.is_empty() {
        let mut f = Finding::new(
            FindingKind::LitellmV3PlainDictDrop,
            format!(
                "LiteLLM v3 limiter plain-dict header drop (BerriAI/litellm#27748): {} are present on {} but absent on the plain-dict responses of {}",
                join(&descriptors),
                with_counters.join(", "),
                dicts.join(", ")
            ),
        );
        f.present_on = with_counters;
        f.missing_on = dicts;
        f.link = Some(LITELLM_ISSUE_URL.into());
        out.push(f);
    }
}

/// `remaining` request counters must fall by one per request the gateway admitted.
fn counter_checks(exchanges: &[Exchange], out: &mut Vec<Finding>, notes: &mut Vec<String>) {
    // Observations per header name: (seq, value), in send order.
    let mut series: BTreeMap<String, Vec<(u32, i64)>> = BTreeMap::new();
    for ex in exchanges.iter().filter(|e| e.shape.is_success()) {
        for h in &ex.rate_headers {
            let counted = h.role == Role::Remaining
                && h.family.compared_across_shapes()
                && h.family != Family::Anthropic;
            if let (true, Some(v)) = (counted, h.count())
                && v >= 0
            {
                series.entry(h.name.clone()).or_default().push((ex.seq, v));
            }
        }
    }
    let admitted = |from: u32, to: u32| -> i64 {
        exchanges
            .iter()
            .filter(|e| e.seq > from && e.seq <= to && e.shape.is_success())
            .count() as i64
    };
    let mut replenished = 0;
    for (name, points) in series {
        if points.len() < 2 {
            continue;
        }
        let is_requests = name.contains("requests") && !name.contains("max_parallel");
        let mut never_moved = true;
        for pair in points.windows(2) {
            let ((s0, v0), (s1, v1)) = (pair[0], pair[1]);
            if v1 != v0 {
                never_moved = false;
            }
            if !is_requests {
                continue;
            }
            let expected = admitted(s0, s1);
            let fell = v0 - v1;
            if v1 > v0 {
                replenished += 1;
            } else if fell > expected {
                out.push(Finding::new(
                    FindingKind::CounterMismatch,
                    format!(
                        "`{name}` fell by {fell} from request {s0} to {s1}, but {expected} request(s) were sent: another client shares this key, or the gateway counts a request more than once"
                    ),
                ));
            } else if fell == 0 && expected > 0 {
                out.push(Finding::new(
                    FindingKind::CounterMismatch,
                    format!(
                        "`{name}` stayed at {v0} from request {s0} to {s1} although {expected} request(s) were admitted in between"
                    ),
                ));
            }
        }
        if never_moved && !is_requests && points.len() >= 3 {
            out.push(Finding::new(
                FindingKind::CounterMismatch,
                format!(
                    "`{name}` never moved across {} responses: the gateway may not be counting",
                    points.len()
                ),
            ));
        }
    }
    if replenished > 0 {
        notes.push(format!(
            "remaining counters rose {replenished} time(s) between requests: a window reset or replenishment"
        ));
    }
}

/// Distinct labels, first occurrence first.
fn in_send_order(labels: impl Iterator<Item = String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for l in labels {
        if !out.contains(&l) {
            out.push(l);
        }
    }
    out
}

fn join(items: &BTreeSet<String>) -> String {
    items.iter().cloned().collect::<Vec<_>>().join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::endpoint::Endpoint;
    use crate::headers::classify;
    use crate::http::StreamInfo;

    fn ex(
        seq: u32,
        endpoint: Endpoint,
        mode: Mode,
        shape: Shape,
        headers: &[(&str, &str)],
    ) -> Exchange {
        Exchange {
            variant: Variant { endpoint, mode },
            round: 1,
            seq,
            status: Some(200),
            shape,
            content_type: None,
            headers: headers
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect(),
            rate_headers: headers.iter().filter_map(|(n, v)| classify(n, v)).collect(),
            time_to_headers_ms: Some(1.0),
            time_to_first_event_ms: None,
            total_ms: 1.0,
            stream: (shape == Shape::Sse).then(StreamInfo::default),
            error_excerpt: None,
            failure: None,
        }
    }

    const CONTROL: (&str, &str) = ("x-litellm-key-rpm-limit", "100");

    #[test]
    fn litellm_v3_drop_is_named_with_exact_headers() {
        let exchanges = vec![
            ex(
                1,
                Endpoint::Chat,
                Mode::NonStreaming,
                Shape::JsonObject,
                &[
                    CONTROL,
                    ("x-ratelimit-api_key-remaining-requests", "99"),
                    ("x-ratelimit-api_key-limit-requests", "100"),
                ],
            ),
            ex(2, Endpoint::Chat, Mode::Streaming, Shape::Sse, &[CONTROL]),
            ex(
                3,
                Endpoint::Completions,
                Mode::NonStreaming,
                Shape::JsonObject,
                &[
                    CONTROL,
                    ("x-ratelimit-api_key-remaining-requests", "97"),
                    ("x-ratelimit-api_key-limit-requests", "100"),
                ],
            ),
        ];
        let (findings, _) = analyze(&exchanges);
        let drop = findings
            .iter()
            .find(|f| f.kind == FindingKind::LitellmV3StreamingDrop)
            .expect("v3 drop");
        assert!(drop.message.contains("BerriAI/litellm#27748"));
        assert_eq!(drop.missing_on, vec!["streaming chat/completions"]);
        let missing = findings
            .iter()
            .find(|f| f.kind == FindingKind::MissingOnShape)
            .unwrap();
        assert_eq!(
            missing.message,
            "`x-ratelimit-api_key-limit-requests`, `x-ratelimit-api_key-remaining-requests` present on non-streaming chat/completions, non-streaming completions, missing on streaming chat/completions"
        );
        assert_eq!(missing.headers.len(), 2);
        // 99 → 97 across two admitted requests (the stream counted too): consistent.
        assert!(
            !findings
                .iter()
                .any(|f| f.kind == FindingKind::CounterMismatch)
        );
    }

    #[test]
    fn headers_on_every_shape_are_clean() {
        let h = [CONTROL, ("x-ratelimit-api_key-remaining-requests", "9")];
        let h2 = [CONTROL, ("x-ratelimit-api_key-remaining-requests", "8")];
        let exchanges = vec![
            ex(1, Endpoint::Chat, Mode::NonStreaming, Shape::JsonObject, &h),
            ex(2, Endpoint::Chat, Mode::Streaming, Shape::Sse, &h2),
        ];
        let (findings, _) = analyze(&exchanges);
        assert!(findings.is_empty(), "{findings:?}");
    }

    #[test]
    fn counters_that_stick_or_jump_are_found() {
        let exchanges = vec![
            ex(
                1,
                Endpoint::Chat,
                Mode::NonStreaming,
                Shape::JsonObject,
                &[("x-ratelimit-remaining-requests", "10")],
            ),
            ex(
                2,
                Endpoint::Chat,
                Mode::NonStreaming,
                Shape::JsonObject,
                &[("x-ratelimit-remaining-requests", "10")],
            ),
            ex(
                3,
                Endpoint::Chat,
                Mode::NonStreaming,
                Shape::JsonObject,
                &[("x-ratelimit-remaining-requests", "7")],
            ),
        ];
        let (findings, _) = analyze(&exchanges);
        let msgs: Vec<_> = findings.iter().map(|f| f.message.as_str()).collect();
        assert!(msgs.iter().any(|m| m.contains("stayed at 10")), "{msgs:?}");
        assert!(msgs.iter().any(|m| m.contains("fell by 3")), "{msgs:?}");
    }

    #[test]
    fn values_are_checked() {
        let exchanges = vec![ex(
            1,
            Endpoint::Chat,
            Mode::NonStreaming,
            Shape::JsonObject,
            &[
                ("x-ratelimit-limit-requests", "10"),
                ("x-ratelimit-remaining-requests", "11"),
                ("x-ratelimit-reset-requests", "soon"),
                ("x-ratelimit-reset-tokens", "48h0m0s"),
            ],
        )];
        let (findings, _) = analyze(&exchanges);
        let kinds: Vec<_> = findings.iter().map(|f| f.kind).collect();
        assert!(
            kinds.contains(&FindingKind::InconsistentValue),
            "{findings:?}"
        );
        assert!(kinds.contains(&FindingKind::MalformedValue));
        assert!(kinds.contains(&FindingKind::ImplausibleReset));
    }

    #[test]
    fn litellm_without_limits_is_not_applicable() {
        let exchanges = vec![
            ex(
                1,
                Endpoint::Chat,
                Mode::NonStreaming,
                Shape::JsonObject,
                &[("x-litellm-version", "1.106.12")],
            ),
            ex(
                2,
                Endpoint::Chat,
                Mode::Streaming,
                Shape::Sse,
                &[("x-litellm-version", "1.106.12")],
            ),
        ];
        let (findings, notes) = analyze(&exchanges);
        assert!(findings.is_empty());
        assert!(notes[0].contains("does not apply"));
    }
}
