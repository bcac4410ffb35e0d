//! What the orchestrator stores: readings, events and AI decisions with what
//! their actions became. Plain data, shared by the hub (its queue), the AI
//! loop and actions (which build them) and the store (which writes them).

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::alerts::Event;

/// A reading for the store.
#[derive(Debug, Clone, PartialEq)]
pub struct Reading {
    pub ts: DateTime<Utc>,
    pub sensor: String,
    pub value: f64,
    pub unit: Option<String>,
    pub stale: bool,
}

/// What waits for the store.
#[derive(Debug, Clone, PartialEq)]
pub enum Record {
    Reading(Reading),
    Event(Event),
    Decision(Box<DecisionRecord>),
}

/// A decision as stored: with the readings it was based on and what its
/// actions became.
#[derive(Debug, Clone, PartialEq)]
pub struct DecisionRecord {
    pub ts: DateTime<Utc>,
    pub model: String,
    pub summary: String,
    /// The readings sent, as JSON.
    pub readings: String,
    pub latency_ms: u64,
    pub usage: Usage,
    pub dry_run: bool,
    pub actions: Vec<ActionRecord>,
}

/// Token usage, when the API reports it.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Usage {
    pub prompt_tokens: Option<i64>,
    pub completion_tokens: Option<i64>,
    pub total_tokens: Option<i64>,
}

/// What became of one chosen action.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Ran,
    Failed,
    TimedOut,
    /// Within its cooldown.
    Skipped,
    /// Not on the allowlist.
    Rejected,
    /// `ai.dry_run`: recorded, not run.
    DryRun,
}

impl Status {
    pub fn as_str(&self) -> &'static str {
        match self {
            Status::Ran => "ran",
            Status::Failed => "failed",
            Status::TimedOut => "timed_out",
            Status::Skipped => "skipped",
            Status::Rejected => "rejected",
            Status::DryRun => "dry_run",
        }
    }
}

/// The record of one chosen action.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ActionRecord {
    pub name: String,
    pub reason: String,
    pub status: Status,
    pub exit_code: Option<i32>,
    /// Why, or the command's output (bounded, sanitized).
    pub detail: String,
    pub duration_ms: u64,
}
