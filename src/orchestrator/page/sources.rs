//! What the status page reads (the paths of the database, the state database
//! and the backups), its chart cache and its render gate. The hub holds one,
//! so this sits below `hub` (as `chart` does); the handler, above it, reads
//! the hub.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use tokio::sync::Semaphore;

use super::chart::History;

pub struct Page {
    database: PathBuf,
    state: PathBuf,
    backups: PathBuf,
    /// One render at a time: the blocking pool is shared with the store.
    gate: Arc<Semaphore>,
    history: Mutex<History>,
}

impl Page {
    pub fn new(cfg: &crate::config::Config) -> Page {
        Page {
            database: cfg.paths.database.clone(),
            state: cfg.paths.state.clone(),
            backups: cfg.paths.backups.clone(),
            gate: Arc::new(Semaphore::new(1)),
            history: Mutex::new(History::default()),
        }
    }

    pub fn database(&self) -> &Path {
        &self.database
    }

    pub fn state(&self) -> &Path {
        &self.state
    }

    pub fn backups(&self) -> &Path {
        &self.backups
    }

    pub fn gate(&self) -> Arc<Semaphore> {
        self.gate.clone()
    }

    /// The chart buckets kept between renders.
    pub fn history(&self) -> &Mutex<History> {
        &self.history
    }
}
