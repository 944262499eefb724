//! Ctrl-C, as engines see it: a flag every long loop checks between requests and a future it
//! can race a request against, so an interrupted command still reports what it gathered.

use tokio::sync::watch;

/// A stop signal; `Stop::default()` never fires.
#[derive(Debug, Clone)]
pub struct Stop(watch::Receiver<bool>);

impl Default for Stop {
    fn default() -> Self {
        // The sender is dropped at once: `changed()` then never resolves to a stop.
        Stop(watch::channel(false).1)
    }
}

impl Stop {
    /// A stop that fires on Ctrl-C (SIGINT).
    pub fn on_ctrl_c() -> Self {
        let (tx, rx) = watch::channel(false);
        tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                let _ = tx.send(true);
            }
            // Keep the sender alive so receivers never see a closed channel as a stop.
            std::future::pending::<()>().await;
        });
        Stop(rx)
    }

    /// Whether it has fired.
    pub fn is_set(&self) -> bool {
        *self.0.borrow()
    }

    /// Resolves when it fires; never, for `Stop::default()`.
    pub async fn fired(&self) {
        let mut rx = self.0.clone();
        loop {
            if *rx.borrow_and_update() {
                return;
            }
            if rx.changed().await.is_err() {
                std::future::pending::<()>().await;
            }
        }
    }
}

/// Serves `app` on `listener` in a task of its own until the returned sender fires (or is
/// dropped); answers under way then finish. Every server of ratecheck's (the simulator, the
/// recorder, the exporter) is stopped this way.
pub fn serve(
    listener: tokio::net::TcpListener,
    app: axum::Router,
) -> (
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<()>,
) {
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = rx.await;
            })
            .await;
    });
    (tx, task)
}
