//! The HTTP side: one client, one request → one [`Exchange`], SSE read to its end with timings.
//!
//! Everything a response tells is captured as data (status, every header, the shape of the body,
//! the stream's events and end) and every failure is classified, because the probe decides
//! exit codes from these values and reporters only print them.
//!
//! `exchange` holds that data; `capture` turns a response head into it and `body` reads what
//! follows (JSON, or an SSE stream event by event); `lane` is the load workers' direct
//! connection and `h1` how it reads HTTP/1.1; `tls` is the TLS both connections use, `cert` its
//! check of a self-signed certificate `--cacert` holds, and `handshake` what a failed handshake
//! means; `proxy` reads the environment's proxy; `base` holds URL normalisation and the small
//! formatting helpers the rest of the crate shares.

mod base;
mod body;
mod capture;
mod cert;
mod contract;
mod exchange;
mod h1;
mod handshake;
mod lane;
pub mod proxy;
pub mod sse;
mod tls;

pub use base::{ms, normalize_base, show_duration};
pub use exchange::{
    Exchange, Request, Shape, StreamInfo, TIMELINE_EVENTS, TimelineEvent, Usage, no_headers,
};
pub(crate) use handshake::{Peer as TlsPeer, failure as tls_failure};
pub use lane::Lane;

use std::time::{Duration, Instant};

use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use serde_json::Value;

use crate::endpoint::{Endpoint, Mode, Variant};
use crate::redact::Redactor;
use crate::verdict::{Abort, Failure, FailureKind};
use base::root_cause;

/// Redirects are not followed by default: following one would resend the key and the body to
/// wherever the gateway points, and 301/302 turn a POST into a GET. With `follow`, only a 307 or
/// 308 to the same origin (scheme, host, port) is followed, which keeps the method and body; the
/// rest is answered as the redirect it is.
fn redirect_policy(follow: bool) -> reqwest::redirect::Policy {
    if !follow {
        return reqwest::redirect::Policy::none();
    }
    reqwest::redirect::Policy::custom(|attempt| {
        let same_origin = attempt
            .previous()
            .first()
            .is_some_and(|first| first.origin() == attempt.url().origin());
        let keeps_method = matches!(attempt.status().as_u16(), 307 | 308);
        if same_origin && keeps_method && attempt.previous().len() < 5 {
            attempt.follow()
        } else {
            attempt.stop()
        }
    })
}

/// Installs the TLS crypto provider once; later calls are no-ops.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// The TLS settings of a client of the target's (reqwest's, offering HTTP/2 and HTTP/1.1),
/// trusting what every command trusts: the platform's roots and `cacert` (PEM), a self-signed
/// certificate `cacert` holds as curl trusts it, or nothing checked with `insecure`.
pub fn tls_client_config(
    cacert: Option<&[u8]>,
    insecure: bool,
) -> anyhow::Result<rustls::ClientConfig> {
    tls::client_config(cacert, insecure, &[b"h2", b"http/1.1"])
}

/// The time allowed to connect, to receive headers, and between two chunks, unless set.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// The longest one request may take, whole body included, unless set.
pub const DEFAULT_MAX_TIME: Duration = Duration::from_mins(2);

/// How to talk to the target: what flags and scenarios resolve to.
#[derive(Debug, Clone)]
pub struct ConnectSpec {
    /// Time allowed to connect, to receive headers, and between two body chunks.
    pub timeout: Duration,
    /// Accept invalid TLS certificates.
    pub insecure: bool,
    /// Extra request headers (`-H`).
    pub extra_headers: Vec<(String, String)>,
    /// The API key, sent as a bearer token (and `x-api-key` on `/v1/messages`).
    pub api_key: Option<String>,
    /// Where the key came from (`RATECHECK_API_KEY`, `file PATH`, `-H`), shown to the user.
    pub key_source: Option<String>,
    /// Operator-named rate-limit headers (`--rate-header`), compared like the known dialects.
    pub rate_headers: Vec<String>,
    /// Request headers whose values are secrets besides the well-known credential headers
    /// (`--secret-header`): redacted everywhere, like the key.
    pub secret_headers: Vec<String>,
    /// Follow same-origin 307/308 redirects (`--follow-redirects`); none by default.
    pub follow_redirects: bool,
    /// The longest one request may take, headers and whole body (`--max-time`).
    pub max_time: Duration,
    /// A CA certificate (PEM) to trust besides the built-in roots (`--cacert`).
    pub cacert: Option<Vec<u8>>,
}

impl Default for ConnectSpec {
    /// No key, no extra headers, the default timeouts, certificates checked, no redirects.
    fn default() -> Self {
        ConnectSpec {
            timeout: DEFAULT_TIMEOUT,
            insecure: false,
            extra_headers: Vec::new(),
            api_key: None,
            key_source: None,
            rate_headers: Vec::new(),
            secret_headers: Vec::new(),
            follow_redirects: false,
            max_time: DEFAULT_MAX_TIME,
            cacert: None,
        }
    }
}

/// A configured HTTP client bound to one gateway base URL.
#[derive(Debug, Clone)]
pub struct Client {
    inner: reqwest::Client,
    /// The URL of each endpoint, built once: parsing a URL per request shows up under load.
    endpoint_urls: Vec<(Endpoint, reqwest::Url)>,
    /// Keep only rate-limit headers and the few the fingerprint reads (see [`Client::lean`]).
    lean: bool,
    base: reqwest::Url,
    settings: ConnectSpec,
    redactor: Redactor,
    /// The proxy the environment routes the target through, if any.
    proxy: Option<proxy::EnvProxy>,
}

impl Client {
    /// A client that never sends: it turns evidence (a HAR, a `curl -i` dump) into exchanges
    /// the way a live response is captured, redacting the evidence's own `secrets` (its request
    /// credentials, URL passwords and query values) and the base URL's.
    pub fn for_evidence(
        base: reqwest::Url,
        secrets: Vec<String>,
        rate_headers: Vec<String>,
    ) -> anyhow::Result<Self> {
        let settings = ConnectSpec {
            rate_headers,
            ..ConnectSpec::default()
        };
        let mut client = Client::new(base, settings)?;
        client.redactor = client.redactor.with_secrets(secrets);
        Ok(client)
    }

    /// The same settings (key, headers, timeouts, TLS) for another base URL: a fleet's other
    /// instances, named as targets by the user.
    pub fn at(&self, base: &str) -> anyhow::Result<Self> {
        let base = normalize_base(base).map_err(|e| anyhow::anyhow!(e))?;
        Client::new(base, self.settings.clone())
    }

    /// Builds a client for `base` (already normalised by [`normalize_base`]).
    pub fn new(base: reqwest::Url, settings: ConnectSpec) -> anyhow::Result<Self> {
        install_crypto_provider();
        let proxy = proxy::for_target(&base);
        let tls = tls_client_config(settings.cacert.as_deref(), settings.insecure)?;
        let mut inner = reqwest::Client::builder()
            .tls_backend_preconfigured(tls)
            .connect_timeout(settings.timeout)
            .user_agent(concat!("ratecheck/", env!("CARGO_PKG_VERSION")))
            .redirect(redirect_policy(settings.follow_redirects))
            .referer(false)
            .http1_max_headers(base::MAX_HEADERS);
        if proxy.is_some() && base.scheme() == "http" {
            // Proxies such as tinyproxy close the client connection after every answer without
            // saying so; a pooled connection reused in that instant fails a request the gateway
            // never saw. Through a proxy, each plain-HTTP request gets its own connection.
            inner = inner.pool_max_idle_per_host(0);
        }
        let inner = inner.build()?;
        let redactor = Redactor::for_target(
            &base,
            settings.api_key.as_deref(),
            &settings.extra_headers,
            &settings.secret_headers,
        )
        .with_secrets(proxy.iter().flat_map(|p| p.credentials.iter().cloned()));
        let endpoint_urls = Endpoint::ALL
            .iter()
            .map(|e| (*e, join(&base, e.path())))
            .collect();
        Ok(Client {
            inner,
            endpoint_urls,
            lean: false,
            base,
            settings,
            redactor,
            proxy,
        })
    }

    /// The proxy requests go through (`scheme://host:port`, no credentials), if the environment
    /// names one for this target.
    pub fn proxy(&self) -> Option<&str> {
        self.proxy.as_ref().map(|p| p.shown.as_str())
    }

    /// The same client keeping only the headers load analysis reads: rate-limit headers,
    /// `content-type`, `date`, `server` and `x-litellm-version`. Tens of thousands of requests a second
    /// should not copy every `date` and `content-length`.
    #[must_use]
    pub fn lean(mut self) -> Self {
        self.lean = true;
        self
    }

    /// The same client, its redactor also knowing `secrets` (another key the same run uses).
    #[must_use]
    pub fn knowing(mut self, secrets: impl IntoIterator<Item = String>) -> Self {
        self.redactor = self.redactor.with_secrets(secrets);
        self
    }

    /// The same settings with another key (a second key a run uses), whose redactor knows both
    /// keys.
    pub fn with_key(&self, key: String, source: String) -> anyhow::Result<Self> {
        let mine: Vec<String> = self.settings.api_key.iter().cloned().collect();
        let settings = ConnectSpec {
            api_key: Some(key),
            key_source: Some(source),
            ..self.settings.clone()
        };
        Ok(Client::new(self.base.clone(), settings)?.knowing(mine))
    }

    /// The key this client sends, for the redactors of other clients in the same run; never
    /// shown.
    pub(crate) fn key(&self) -> Option<&str> {
        self.settings.api_key.as_deref()
    }

    /// The redactor that knows this client's secrets.
    pub fn redactor(&self) -> &Redactor {
        &self.redactor
    }

    /// The base URL, safe to show.
    pub fn display_base(&self) -> String {
        self.redactor.url(&self.base)
    }

    fn url(&self, path: &str) -> reqwest::Url {
        join(&self.base, path)
    }

    fn endpoint_url(&self, e: Endpoint) -> reqwest::Url {
        self.endpoint_urls
            .iter()
            .find(|(k, _)| *k == e)
            .map_or_else(|| self.url(e.path()), |(_, u)| u.clone())
    }

    pub(crate) fn request_headers(&self, endpoint: Option<Endpoint>) -> HeaderMap {
        let mut map = HeaderMap::new();
        if let Some(key) = &self.settings.api_key {
            if let Ok(v) = HeaderValue::from_str(&format!("Bearer {key}")) {
                map.insert(reqwest::header::AUTHORIZATION, mark_sensitive(v));
            }
            if endpoint == Some(Endpoint::Messages)
                && let Ok(v) = HeaderValue::from_str(key)
            {
                map.insert("x-api-key", mark_sensitive(v));
            }
        }
        if endpoint == Some(Endpoint::Messages) {
            map.insert("anthropic-version", HeaderValue::from_static("2023-06-01"));
        }
        for (name, value) in &self.settings.extra_headers {
            if let (Ok(n), Ok(v)) = (
                HeaderName::from_bytes(name.as_bytes()),
                HeaderValue::from_str(value),
            ) {
                map.insert(n, v);
            }
        }
        map
    }

    /// Where the key came from, or `none`, as reports name it.
    pub fn key_source(&self) -> String {
        self.settings
            .key_source
            .clone()
            .unwrap_or_else(|| "none".into())
    }

    /// The run stopped by `failure`, with a hint that knows this client: a refused key is told
    /// apart from a missing one.
    pub fn abort(&self, failure: Failure) -> Abort {
        let mut a = Abort::new(failure, &self.display_base());
        if let (FailureKind::Connect, Some(p)) = (a.failure.kind, self.proxy()) {
            a.hint = format!(
                "is the proxy at {p} running, and may it reach {}? Add the gateway's host to `NO_PROXY` to connect directly",
                self.display_base()
            );
        }
        if a.failure.kind == FailureKind::Auth {
            a.hint = match &self.settings.key_source {
                None => "no API key was sent: set `RATECHECK_API_KEY` (or `LITELLM_API_KEY`, `OPENAI_API_KEY`), or name its variable with `--api-key-env VAR`".into(),
                Some(from) => format!(
                    "the gateway refused the key from {from}: check that it is valid for this gateway and may use this model"
                ),
            };
        }
        a
    }

    /// The model to use: `given`, else the first that `GET /v1/models` lists. A failure to
    /// list is the run's [`Abort`]; an empty or refused list asks the user to name one.
    pub async fn resolve_model(&self, given: Option<&str>) -> Result<String, Abort> {
        if let Some(m) = given {
            return Ok(m.to_string());
        }
        match self.list_models().await {
            Ok(models) => models.into_iter().next().ok_or_else(|| {
                Abort::needs_input(
                    "`GET /v1/models` listed no models".into(),
                    "pass `--model NAME`",
                )
            }),
            Err(ModelsError::Status(status)) => Err(Abort::needs_input(
                format!("`GET /v1/models` answered {status}, so no model could be picked"),
                "pass `--model NAME`",
            )),
            Err(ModelsError::Failure(f)) => Err(self.abort(f)),
        }
    }

    /// `GET /v1/models`: the ids the target lists, or why that failed.
    pub async fn list_models(&self) -> Result<Vec<String>, ModelsError> {
        let url = self.url("/v1/models");
        let send = self
            .inner
            .get(url)
            .headers(self.request_headers(None))
            .send();
        let resp = match tokio::time::timeout(self.settings.timeout, send).await {
            Err(_) => {
                return Err(ModelsError::Failure(Failure {
                    kind: FailureKind::Timeout,
                    message: format!(
                        "no response from `GET /v1/models` within {}",
                        show_duration(self.settings.timeout)
                    ),
                }));
            }
            Ok(Err(e)) => return Err(ModelsError::Failure(self.transport_failure(&e))),
            Ok(Ok(r)) => r,
        };
        let status = resp.status().as_u16();
        if status == 401 || status == 403 {
            return Err(ModelsError::Failure(Failure {
                kind: FailureKind::Auth,
                message: format!("`GET /v1/models` answered {status}"),
            }));
        }
        if !(200..300).contains(&status) {
            return Err(ModelsError::Status(status));
        }
        let body: Value = match tokio::time::timeout(self.settings.timeout, resp.json()).await {
            Ok(Ok(v)) => v,
            _ => return Err(ModelsError::Status(status)),
        };
        Ok(body["data"]
            .as_array()
            .map(|items| {
                items
                    .iter()
                    .filter_map(|m| m["id"].as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default())
    }

    /// Sends one probe request and reads the response to its end.
    pub async fn exchange(&self, variant: Variant, model: &str, round: u32, seq: u32) -> Exchange {
        let body = variant
            .endpoint
            .body(model, variant.mode == Mode::Streaming);
        self.send(&Request {
            variant,
            body,
            headers: Vec::new(),
            raw_body: None,
            round,
            seq,
        })
        .await
    }

    /// Sends one request with its own body and headers, and reads the response to its end.
    pub async fn send(&self, req: &Request) -> Exchange {
        // A secret in the request's own headers (a tenant token a scenario step sets) is known
        // only now: this request's record is redacted with it too.
        let secrets = crate::redact::secret_values(&req.headers, &self.settings.secret_headers);
        if secrets.is_empty() {
            return self.send_now(req).await;
        }
        let mut knowing = self.clone();
        knowing.redactor = self.redactor.clone().with_secrets(secrets);
        knowing.send_now(req).await
    }

    /// The secrets among `headers`, as this client's settings mark them.
    pub fn secret_values(&self, headers: &[(String, String)]) -> Vec<String> {
        crate::redact::secret_values(headers, &self.settings.secret_headers)
    }

    async fn send_now(&self, req: &Request) -> Exchange {
        let variant = req.variant;
        let (round, seq) = (req.round, req.seq);
        let mut headers = self.request_headers(Some(variant.endpoint));
        for (name, value) in &req.headers {
            if let (Ok(n), Ok(v)) = (
                HeaderName::from_bytes(name.as_bytes()),
                HeaderValue::from_str(value),
            ) {
                headers.insert(n, v);
            }
        }
        let request = self
            .inner
            .post(self.endpoint_url(variant.endpoint))
            .headers(headers);
        let request = match &req.raw_body {
            Some(raw) => request
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(raw.clone()),
            None => request.json(&req.body),
        };
        let mut ex = Exchange::empty(variant, round, seq);
        let start = Instant::now();
        let resp = match tokio::time::timeout(self.settings.timeout, request.send()).await {
            Err(_) => {
                ex.failure = Some(no_headers(variant, self.settings.timeout));
                ex.total_ms = ms(start.elapsed());
                return ex;
            }
            Ok(Err(e)) => {
                ex.failure = Some(self.transport_failure(&e));
                ex.total_ms = ms(start.elapsed());
                return ex;
            }
            Ok(Ok(r)) => r,
        };
        let mut resp = resp;
        let status = resp.status().as_u16();
        let headers = std::mem::take(resp.headers_mut());
        self.finish(&mut ex, status, &headers, resp.bytes_stream(), start)
            .await;
        ex
    }

    fn transport_failure(&self, e: &reqwest::Error) -> Failure {
        let host = format!(
            "{}:{}",
            self.base.host_str().unwrap_or_default(),
            self.base.port_or_known_default().unwrap_or_default()
        );
        let (kind, message) = if e.is_timeout() {
            (
                FailureKind::Timeout,
                format!("timed out talking to {host}: {}", root_cause(e)),
            )
        } else if let Some(failure) = handshake::failure(e, self.peer(&host)) {
            (failure.kind, failure.message)
        } else if e.is_connect() {
            let cause = root_cause(e);
            let via = self
                .proxy()
                .map(|p| format!(" through the proxy {p}"))
                .unwrap_or_default();
            (
                FailureKind::Connect,
                format!("could not connect to {host}{via}: {cause}"),
            )
        } else if root_cause(e).contains("HTTP version") || root_cause(e).contains("HTTP/0.9") {
            (
                FailureKind::Connect,
                format!(
                    "{host} did not answer in HTTP: {}; it probably speaks TLS: use https://",
                    root_cause(e)
                ),
            )
        } else {
            let cause = root_cause(e);
            // A TLS port that gets plain HTTP often just resets the connection.
            let advice = if self.base.scheme() == "http" && cause.contains("reset") {
                " (if the port speaks TLS, use https://)"
            } else {
                ""
            };
            (
                FailureKind::StreamCut,
                format!("the connection to {host} failed: {cause}{advice}"),
            )
        };
        Failure {
            kind,
            message: self.redactor.text(&message),
        }
    }

    /// The target as a TLS failure names it: `host:port` (`addr`) and the host its
    /// certificate must name.
    fn peer<'a>(&'a self, addr: &'a str) -> handshake::Peer<'a> {
        handshake::Peer {
            addr,
            host: self.base.host_str().unwrap_or_default(),
            cacert: self.settings.cacert.is_some(),
        }
    }
}

/// Why `/v1/models` gave no model.
#[derive(Debug)]
pub enum ModelsError {
    /// Transport or authentication failure.
    Failure(Failure),
    /// A status that is not success.
    Status(u16),
}

/// `path` appended to the base URL's path.
fn join(base: &reqwest::Url, path: &str) -> reqwest::Url {
    let mut u = base.clone();
    let base_path = u.path().trim_end_matches('/').to_string();
    u.set_path(&format!("{base_path}{path}"));
    u
}

/// Marks a header value so that debug output and HTTP/2 tables never show it.
fn mark_sensitive(mut v: HeaderValue) -> HeaderValue {
    v.set_sensitive(true);
    v
}
