//! What a load run measures, kept in fixed-size structures so memory stays flat however many
//! requests are sent: HdrHistograms for times, counters for outcomes, per-second buckets for
//! the timeline, per-shape header tallies for the rate-limit truth.

use std::collections::BTreeMap;

use base64::Engine as _;
use hdrhistogram::Histogram;
use hdrhistogram::serialization::{
    Deserializer as HistReader, Serializer as _, V2DeflateSerializer,
};
use serde::{Deserialize, Serialize};

use crate::endpoint::Variant;
use crate::headers::{Family, Role};
use crate::http::Exchange;
use crate::verdict::FailureKind;

/// A latency histogram in microseconds, 1 µs to 1 hour at 3 significant digits.
#[derive(Debug, Clone)]
pub struct Hist(Histogram<u64>);

impl Default for Hist {
    fn default() -> Self {
        Hist(Histogram::new_with_bounds(1, 3_600_000_000, 3).expect("static histogram bounds"))
    }
}

impl Hist {
    /// Records a time in milliseconds.
    pub fn record_ms(&mut self, ms: f64) {
        let us = (ms * 1000.0).round().clamp(1.0, 3_600_000_000.0) as u64;
        self.0.saturating_record(us);
    }

    /// The percentile curve at fixed points (percentile, milliseconds), for plotting.
    pub fn curve(&self) -> Vec<(f64, f64)> {
        if self.0.is_empty() {
            return Vec::new();
        }
        CURVE_POINTS
            .iter()
            .map(|p| (*p, self.0.value_at_quantile(p / 100.0) as f64 / 1000.0))
            .collect()
    }

    /// Adds every value recorded in `other`. Both cover the same range (every [`Hist`] is
    /// made by [`Hist::default`]), so nothing is lost.
    pub fn add(&mut self, other: &Hist) {
        if self.0.add(&other.0).is_ok() {
            return;
        }
        // A histogram read back with other bounds: value by value, clamped into ours.
        for v in other.0.iter_recorded() {
            self.0
                .saturating_record_n(v.value_iterated_to(), v.count_at_value());
        }
    }

    /// Count and percentiles, in milliseconds.
    pub fn summary(&self) -> Percentiles {
        let q = |p: f64| self.0.value_at_quantile(p) as f64 / 1000.0;
        Percentiles {
            count: self.0.len(),
            p50: q(0.5),
            p90: q(0.9),
            p99: q(0.99),
            p999: q(0.999),
            max: self.0.max() as f64 / 1000.0,
            mean: self.0.mean() / 1000.0,
        }
    }
}

/// A histogram travels in raw results in HdrHistogram's own compressed form (V2, deflated,
/// base64), as its log files carry it: every recorded count, nothing rounded.
impl Serialize for Hist {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut bytes = Vec::new();
        V2DeflateSerializer::new()
            .serialize(&self.0, &mut bytes)
            .map_err(|e| serde::ser::Error::custom(format!("histogram: {e:?}")))?;
        s.serialize_str(&base64::engine::general_purpose::STANDARD.encode(bytes))
    }
}

impl<'de> Deserialize<'de> for Hist {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(text.trim())
            .map_err(|e| {
                serde::de::Error::custom(format!("a histogram that is not base64: {e}"))
            })?;
        let read: Histogram<u64> = HistReader::new()
            .deserialize(&mut bytes.as_slice())
            .map_err(|e| {
                serde::de::Error::custom(format!("a histogram that does not decode: {e:?}"))
            })?;
        // Into the standard range, so that shards' histograms add up whatever range was sent.
        let mut h = Hist::default();
        h.add(&Hist(read));
        Ok(h)
    }
}

/// Percentiles at which the latency curve is reported.
pub const CURVE_POINTS: [f64; 17] = [
    0.0, 10.0, 20.0, 30.0, 40.0, 50.0, 60.0, 70.0, 80.0, 90.0, 95.0, 97.5, 99.0, 99.5, 99.9, 99.99,
    100.0,
];

/// Percentiles of one distribution, in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Percentiles {
    /// Values recorded.
    pub count: u64,
    /// Median.
    pub p50: f64,
    /// 90th percentile.
    pub p90: f64,
    /// 99th percentile.
    pub p99: f64,
    /// 99.9th percentile.
    pub p999: f64,
    /// Largest.
    pub max: f64,
    /// Mean.
    pub mean: f64,
}

/// Why an attempt failed, by who is to blame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorClass {
    /// 429 from the gateway itself.
    GatewayThrottle,
    /// 429 passed through from the upstream provider (`llm_provider-*` headers say so).
    UpstreamThrottle,
    /// 503: an outage, or a limit refusing in the wrong status (clients treat both as an outage).
    Unavailable503,
    /// Other 5xx.
    ServerError,
    /// 401 or 403.
    Auth,
    /// Other 4xx.
    ClientError,
    /// 3xx: a redirect, not followed (the key and body would go elsewhere).
    Redirect,
    /// No answer in time, or a stream that stalled.
    Timeout,
    /// No connection.
    Connect,
    /// The TLS handshake failed: a certificate refused, or no TLS spoken.
    Tls,
    /// A stream or body cut mid-way.
    CutStream,
    /// A body that is not what it claims.
    BadBody,
}

impl ErrorClass {
    /// Human label.
    pub fn label(self) -> &'static str {
        match self {
            ErrorClass::GatewayThrottle => "gateway throttle (429)",
            ErrorClass::UpstreamThrottle => "upstream throttle (429 via llm_provider-*)",
            ErrorClass::Unavailable503 => "unavailable (503)",
            ErrorClass::ServerError => "server error (5xx)",
            ErrorClass::Auth => "authentication (401/403)",
            ErrorClass::ClientError => "client error (4xx)",
            ErrorClass::Redirect => "redirect (3xx), not followed",
            ErrorClass::Timeout => "timeout",
            ErrorClass::Connect => "connect",
            ErrorClass::Tls => "tls",
            ErrorClass::CutStream => "cut stream",
            ErrorClass::BadBody => "bad body",
        }
    }

    /// Whether this class is a refusal by a limiter: expected under load, not a failure.
    pub fn is_throttle(self) -> bool {
        matches!(
            self,
            ErrorClass::GatewayThrottle | ErrorClass::UpstreamThrottle
        )
    }

    /// The failure this class counts as when it decides the exit: a transport failure, or a
    /// server error (5xx). Throttles and other 4xx are answers.
    pub fn failure_kind(self) -> Option<FailureKind> {
        match self {
            ErrorClass::Connect => Some(FailureKind::Connect),
            ErrorClass::Tls => Some(FailureKind::Tls(crate::verdict::TlsCause::Other)),
            ErrorClass::Auth => Some(FailureKind::Auth),
            ErrorClass::Timeout => Some(FailureKind::Timeout),
            ErrorClass::CutStream => Some(FailureKind::StreamCut),
            ErrorClass::BadBody => Some(FailureKind::BadBody),
            ErrorClass::Unavailable503 | ErrorClass::ServerError => Some(FailureKind::ServerError),
            ErrorClass::GatewayThrottle
            | ErrorClass::UpstreamThrottle
            | ErrorClass::ClientError
            | ErrorClass::Redirect => None,
        }
    }
}

/// The class of a failed attempt; `None` for a complete 2xx.
pub fn error_class(ex: &Exchange) -> Option<ErrorClass> {
    if let Some(f) = &ex.failure {
        return Some(match f.kind {
            FailureKind::Connect => ErrorClass::Connect,
            FailureKind::Tls(_) => ErrorClass::Tls,
            FailureKind::Timeout => ErrorClass::Timeout,
            FailureKind::StreamCut => ErrorClass::CutStream,
            FailureKind::BadBody | FailureKind::ShapeContract => ErrorClass::BadBody,
            FailureKind::Auth => ErrorClass::Auth,
            FailureKind::ServerError => ErrorClass::ServerError,
        });
    }
    match ex.status? {
        200..=299 => None,
        429 | 529 => Some(
            if ex
                .rate_headers
                .iter()
                .any(|h| h.family == Family::Provider && h.name.contains("retry-after"))
            {
                ErrorClass::UpstreamThrottle
            } else {
                ErrorClass::GatewayThrottle
            },
        ),
        503 => Some(ErrorClass::Unavailable503),
        500..=599 => Some(ErrorClass::ServerError),
        401 | 403 => Some(ErrorClass::Auth),
        300..=399 => Some(ErrorClass::Redirect),
        _ => Some(ErrorClass::ClientError),
    }
}

/// How many successful responses of one shape carried each rate-limit header.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ShapeTally {
    /// Successful responses of this shape.
    pub responses: u64,
    /// Per header name: responses that carried it.
    pub carried: BTreeMap<String, u64>,
}

/// One second of the run.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Second {
    /// Attempts sent in this second (first tries and retries).
    pub sent: u64,
    /// Complete 2xx responses.
    pub accepted: u64,
    /// 429s.
    pub throttled: u64,
    /// Other failures.
    pub errors: u64,
    /// The last `remaining` (requests) each shape advertised in this second; absent when the
    /// shape's responses carried none.
    #[serde(serialize_with = "by_label", deserialize_with = "from_labels", default)]
    pub remaining: BTreeMap<Variant, i64>,
}

/// Writes a per-shape map with the shapes' labels (`streaming chat/completions`) as keys.
fn by_label<S: serde::Serializer>(m: &BTreeMap<Variant, i64>, s: S) -> Result<S::Ok, S::Error> {
    use serde::ser::SerializeMap;
    let mut map = s.serialize_map(Some(m.len()))?;
    for (k, v) in m {
        map.serialize_entry(&k.to_string(), v)?;
    }
    map.end()
}

/// Reads back a per-shape map written by [`by_label`].
fn from_labels<'de, D: serde::Deserializer<'de>>(d: D) -> Result<BTreeMap<Variant, i64>, D::Error> {
    BTreeMap::<String, i64>::deserialize(d)?
        .into_iter()
        .map(|(k, v)| Ok((k.parse().map_err(serde::de::Error::custom)?, v)))
        .collect()
}

/// The advertised request quota on a response: (`remaining`, `limit`) for requests, from the
/// first dialect that has them.
pub fn request_counters(ex: &Exchange) -> (Option<i64>, Option<i64>) {
    let find = |role: Role| {
        ex.rate_headers
            .iter()
            .filter(|h| h.role == role && h.unit.as_deref() == Some("requests"))
            .find_map(super::super::headers::RateHeader::count)
    };
    (find(Role::Remaining), find(Role::Limit))
}

/// Header tallies per shape, from successful responses.
pub fn tally(shapes: &mut BTreeMap<Variant, ShapeTally>, ex: &Exchange) {
    let t = shapes.entry(ex.variant).or_default();
    t.responses += 1;
    for h in ex.rate_headers.iter().filter(|h| h.compared()) {
        // Names repeat on every response: look up before allocating a key.
        match t.carried.get_mut(&h.name) {
            Some(n) => *n += 1,
            None => {
                t.carried.insert(h.name.clone(), 1);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_reports_milliseconds() {
        let mut h = Hist::default();
        for i in 1..=1000 {
            h.record_ms(f64::from(i));
        }
        let s = h.summary();
        assert_eq!(s.count, 1000);
        assert!((s.p50 - 500.0).abs() < 1.0, "{s:?}");
        assert!((s.p99 - 990.0).abs() < 1.5, "{s:?}");
        assert!((s.max - 1000.0).abs() < 1.0, "{s:?}");
    }
}
