//! Deliberate waits, as commands see them: an engine that sleeps on purpose (the advertised
//! wait before the 429 contract's recovery check, up to `--max-wait`) says until when and why,
//! so a terminal can show a countdown instead of a spinner that seems stuck.

use std::sync::Arc;
use std::time::Instant;

use tokio::sync::watch;

/// One wait in progress.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wait {
    /// When it ends.
    pub until: Instant,
    /// What comes after it, completing "waiting N s before …".
    pub before: String,
}

/// Where an engine announces its waits; `Waiting::default()` tells no one.
#[derive(Debug, Clone, Default)]
pub struct Waiting(Option<Arc<watch::Sender<Option<Wait>>>>);

impl Waiting {
    /// A handle for an engine, and the receiver a command watches.
    pub fn channel() -> (Waiting, watch::Receiver<Option<Wait>>) {
        let (tx, rx) = watch::channel(None);
        (Waiting(Some(Arc::new(tx))), rx)
    }

    /// Announces a wait until `until`, before `before`.
    pub fn start(&self, until: Instant, before: &str) {
        if let Some(tx) = &self.0 {
            tx.send_replace(Some(Wait {
                until,
                before: before.to_string(),
            }));
        }
    }

    /// The wait is over.
    pub fn end(&self) {
        if let Some(tx) = &self.0 {
            tx.send_replace(None);
        }
    }
}

impl Wait {
    /// "waiting 42 s before the recovery check", from `now`.
    pub fn describe(&self, now: Instant) -> String {
        let left = self
            .until
            .saturating_duration_since(now)
            .as_secs_f64()
            .ceil();
        format!("waiting {left:.0} s before {}", self.before)
    }
}
