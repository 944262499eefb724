//! Where a load run's requests go: a [`Transport`] turns one request into one exchange, so
//! the engine runs against an in-memory target in tests and against [`Target`] for real.

use std::future::Future;

use crate::http::{Client, Exchange, Lane, Request};

/// Where requests go. The engine only needs one request turned into one exchange.
pub trait Transport: Send + Sync + Sized + 'static {
    /// Sends `req` and reads the response to its end.
    fn deliver(&self, req: Request) -> impl Future<Output = Exchange> + Send;

    /// Another handle on the same target for another lane of workers; by default the same one.
    #[must_use]
    fn lane(&self) -> Self;

    /// OS threads the closed loop's workers are spread over, each thread with a runtime of its
    /// own (see the dispatcher); 1 runs them on the caller's runtime.
    fn threads(&self) -> usize {
        1
    }
}

impl Transport for Client {
    async fn deliver(&self, req: Request) -> Exchange {
        self.send(&req).await
    }

    fn lane(&self) -> Self {
        self.clone()
    }
}

/// The real target as the load engine uses it: on `http://`, requests go out on lanes (one
/// connection each, driven directly: [`Lane`]) — closed-loop workers each drive their own,
/// like a client per user, and the open loop takes whichever is idle; everything else shares
/// the pooled client.
#[derive(Debug)]
pub enum Target {
    /// The general client and its connection pool.
    Pool(Box<Client>),
    /// One connection, driven directly.
    Lane(Lane),
}

impl Target {
    /// The transport for a load run against `client`'s target.
    pub fn for_load(client: Client) -> Self {
        Lane::new(&client).map_or_else(|| Target::Pool(Box::new(client)), Target::Lane)
    }
}

impl Transport for Target {
    async fn deliver(&self, req: Request) -> Exchange {
        match self {
            Target::Pool(c) => c.send(&req).await,
            Target::Lane(l) => l.send(&req).await,
        }
    }

    fn lane(&self) -> Self {
        match self {
            Target::Pool(c) => Target::Pool(c.clone()),
            Target::Lane(l) => Target::Lane(l.sibling()),
        }
    }

    fn threads(&self) -> usize {
        match self {
            // The pooled client's connections belong to the runtime that made them.
            Target::Pool(_) => 1,
            Target::Lane(_) => std::thread::available_parallelism().map_or(1, usize::from),
        }
    }
}
