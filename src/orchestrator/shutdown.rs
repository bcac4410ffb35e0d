//! The shutdown signal, as in mini-redis: one `Trigger`, and a `Shutdown`
//! handle owned by every task, whose loops `select!` on `wait()`.

use tokio::sync::watch;

/// Fires the shutdown once for every handle.
pub struct Trigger(watch::Sender<bool>);

/// A task's view of the shutdown signal.
#[derive(Clone)]
pub struct Shutdown(watch::Receiver<bool>);

impl Trigger {
    pub fn new() -> (Trigger, Shutdown) {
        let (tx, rx) = watch::channel(false);
        (Trigger(tx), Shutdown(rx))
    }

    pub fn fire(&self) {
        self.0.send_replace(true);
    }

    pub fn subscribe(&self) -> Shutdown {
        Shutdown(self.0.subscribe())
    }
}

impl Shutdown {
    /// Resolves once the shutdown was fired (at once if it already was, or
    /// if the trigger is gone). Cancel-safe.
    pub async fn wait(&mut self) {
        let _ = self.0.wait_for(|v| *v).await;
    }

    pub fn is_set(&self) -> bool {
        *self.0.borrow()
    }
}
