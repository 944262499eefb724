//! `ratecheck mock`: a rate-limited OpenAI/LiteLLM-compatible simulator on 127.0.0.1.
//!
//! It is product code: users run it for demos and to try scenarios, and the test suite runs it
//! on port 0. It keeps real per-key request and token counters over a fixed window, answers 429
//! when a key is over its limit, streams SSE frame by frame with real gaps, and writes its
//! rate-limit headers through `headers::emit`, the same model the checker reads with. Profiles
//! choose the dialect and whether the LiteLLM v3 streaming drop is reproduced.
//!
//! `counters` keeps each key's usage and admits requests; `handlers` answers them; `bodies`
//! writes the JSON and SSE bodies; `fault` is the misbehaving server of `mock --fault`.

pub mod bodies;
mod counters;
pub mod fault;
mod handlers;

use std::fmt;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::oneshot;

use crate::endpoint::Endpoint;

/// Which gateway the simulator imitates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Profile {
    /// LiteLLM's v3 limiter as released: counters on non-streaming JSON only.
    #[value(name = "litellm-v3")]
    LitellmV3,
    /// LiteLLM with the headers on every response shape (the fix, or the workaround).
    #[value(name = "litellm-fixed")]
    LitellmFixed,
    /// OpenAI: bare `x-ratelimit-*` with Go-duration resets on every shape.
    Openai,
    /// Anthropic: `anthropic-ratelimit-*` with RFC 3339 resets.
    Anthropic,
    /// IETF draft `RateLimit` / `RateLimit-Policy`.
    Ietf,
}

impl Profile {
    /// The profile's name as typed on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Profile::LitellmV3 => "litellm-v3",
            Profile::LitellmFixed => "litellm-fixed",
            Profile::Openai => "openai",
            Profile::Anthropic => "anthropic",
            Profile::Ietf => "ietf",
        }
    }

    fn is_litellm(self) -> bool {
        matches!(self, Profile::LitellmV3 | Profile::LitellmFixed)
    }
}

/// A limiter defect the simulator reproduces on demand (`mock --defect`), each as measured on
/// real LiteLLM releases (the README's version table). Without any, its limiter is healthy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Defect {
    /// A request refused for `max_parallel_requests` is still charged a request
    /// (BerriAI/litellm#39309).
    RefusalCharged,
    /// 429s on `/v1/messages` and `/v1/completions` carry no `retry-after` nor any other
    /// header of the limiter (BerriAI/litellm#37754).
    NoRetryAfter,
    /// `/v1/completions`, `/v1/responses` and `/v1/embeddings` are charged no tokens
    /// (BerriAI/litellm#17706).
    TokensUncharged,
    /// A completed `/v1/messages` or `/v1/responses` call keeps its concurrency slot until the
    /// window ends (BerriAI/litellm#27955).
    SlotKept,
    /// Tokens are charged after the response, with no reservation: requests that arrive
    /// together all pass the tokens check (BerriAI/litellm#18730).
    TpmRace,
}

impl fmt::Display for Profile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Simulator settings.
#[derive(Debug, Clone)]
pub struct MockConfig {
    /// Dialect and behaviour.
    pub profile: Profile,
    /// Requests allowed per key per window.
    pub rpm: u64,
    /// Tokens allowed per key per window.
    pub tpm: u64,
    /// Window length.
    pub window: Duration,
    /// Pause between two SSE frames.
    pub chunk_delay: Duration,
    /// The model `GET /v1/models` lists.
    pub model: String,
    /// When set, only this key is accepted; others get 401.
    pub require_key: Option<String>,
    /// Endpoints served; the others answer 404, as on a gateway that does not offer them.
    pub endpoints: Vec<Endpoint>,
    /// Requests of one key in flight at once (`max_parallel_requests`); none by default.
    pub max_parallel: Option<u64>,
    /// How long a long generation (`max_tokens` of 200 or more) takes.
    pub slow: Duration,
    /// Limiter defects to reproduce.
    pub defects: Vec<Defect>,
}

impl MockConfig {
    /// Whether `defect` is reproduced.
    pub fn has(&self, defect: Defect) -> bool {
        self.defects.contains(&defect)
    }
}

impl Default for MockConfig {
    fn default() -> Self {
        MockConfig {
            profile: Profile::LitellmV3,
            rpm: 1000,
            tpm: 1_000_000,
            window: Duration::from_mins(1),
            chunk_delay: Duration::from_millis(10),
            model: "mock-model".into(),
            require_key: None,
            endpoints: Endpoint::ALL.to_vec(),
            max_parallel: None,
            slow: Duration::from_secs(2),
            defects: Vec::new(),
        }
    }
}

/// One request the simulator received, for tests and demos.
#[derive(Debug, Clone, PartialEq)]
pub struct Recorded {
    /// Request path.
    pub path: String,
    /// Whether a stream was asked for.
    pub stream: bool,
    /// The status answered.
    pub status: u16,
}

pub use counters::Store;
use counters::{Shared, lock};
use handlers::router;

/// A running simulator.
pub struct MockServer {
    addr: SocketAddr,
    shared: Arc<Shared>,
    shutdown: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

impl MockServer {
    /// Binds `127.0.0.1:port` (0 picks a free port) and starts serving.
    pub async fn start(cfg: MockConfig, port: u16) -> std::io::Result<Self> {
        Self::start_on(cfg, port, Store::default()).await
    }

    /// As [`MockServer::start`], keeping usage in `store` (one of a fleet's).
    async fn start_on(cfg: MockConfig, port: u16, store: Store) -> std::io::Result<Self> {
        let listener = TcpListener::bind(("127.0.0.1", port)).await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            cfg,
            store,
            log: Mutex::new(Vec::new()),
            next_id: Mutex::new(0),
            slots: Mutex::new(std::collections::HashMap::new()),
        });
        let app = router(shared.clone());
        let (tx, task) = crate::stop::serve(listener, app);
        Ok(MockServer {
            addr,
            shared,
            shutdown: Some(tx),
            task,
        })
    }

    /// The base URL, e.g. `http://127.0.0.1:41234`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Requests received so far.
    pub fn requests(&self) -> Vec<Recorded> {
        lock(&self.shared.log).clone()
    }

    /// Stops accepting, lets open responses finish, and waits.
    pub async fn shutdown(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        let _ = (&mut self.task).await;
    }

    /// Serves until the task is stopped (used by `ratecheck mock`).
    pub async fn wait(self) {
        let _ = self.task.await;
    }
}

/// Several simulator instances on one shared store, as LiteLLM pods on one Redis: a limit is
/// global across them until [`MockFleet::split`] makes each count alone (a Redis loss).
pub struct MockFleet {
    /// The instances, each on its own port.
    pub servers: Vec<MockServer>,
    stores: Vec<Store>,
}

impl MockFleet {
    /// Starts `n` instances with `cfg` on loopback ports `first_port`, `first_port + 1`, …
    /// (0: free ports).
    pub async fn start(cfg: &MockConfig, n: usize, first_port: u16) -> std::io::Result<Self> {
        let stores = Store::fleet(n.max(1));
        let mut servers = Vec::with_capacity(stores.len());
        for (i, store) in stores.iter().enumerate() {
            let port = match first_port {
                0 => 0,
                p => u16::try_from(i)
                    .ok()
                    .and_then(|i| p.checked_add(i))
                    .ok_or_else(|| std::io::Error::other("no port left above `--port`"))?,
            };
            servers.push(MockServer::start_on(cfg.clone(), port, store.clone()).await?);
        }
        Ok(MockFleet { servers, stores })
    }

    /// Every instance's base URL.
    pub fn urls(&self) -> Vec<String> {
        self.servers.iter().map(MockServer::url).collect()
    }

    /// Each instance counts alone from now on, from zero.
    pub fn split(&self) {
        for store in &self.stores {
            store.clear_own();
        }
        if let Some(store) = self.stores.first() {
            store.split();
        }
    }

    /// The shared store counts again.
    pub fn rejoin(&self) {
        if let Some(store) = self.stores.first() {
            store.rejoin();
        }
    }

    /// Stops every instance.
    pub async fn shutdown(self) {
        for server in self.servers {
            server.shutdown().await;
        }
    }
}
