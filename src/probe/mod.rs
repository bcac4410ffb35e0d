//! Probes observe; they never decide what is an alert (that is `check::policy`)
//! and never act. Each probe is a file here with one entry point that turns a
//! read-only `Context` into observations. Reading (files, network, systemctl)
//! is kept apart from parsing, and parsers are pure and tested on literals.

pub mod api;
pub mod backups;
pub mod cpu;
pub mod database;
pub mod disk;
pub mod health;
pub mod memory;
pub mod plain_http;
pub mod service;
pub mod units;

use std::fmt;
use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::config::Config;
use crate::probe_names as names;

/// A probe's current status. Ordered by how bad it is for the exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Ok,
    /// Nothing to ask here (no systemd): not a failure.
    Skipped,
    /// The service is (re)starting; API failures are expected, not alerts.
    Starting,
    Warn,
    Crit,
    /// The probe could not find out.
    Unknown,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Skipped => "skipped",
            Status::Starting => "starting",
            Status::Warn => "warn",
            Status::Crit => "crit",
            Status::Unknown => "unknown",
        }
    }

    pub fn parse(s: &str) -> Option<Status> {
        Some(match s {
            "ok" => Status::Ok,
            "skipped" => Status::Skipped,
            "starting" => Status::Starting,
            "warn" => Status::Warn,
            "crit" => Status::Crit,
            "unknown" => Status::Unknown,
            _ => return None,
        })
    }

    /// Nagios exit code of this status alone.
    pub fn exit_code(self) -> u8 {
        match self {
            Status::Ok | Status::Skipped | Status::Starting => 0,
            Status::Warn => 1,
            Status::Crit => 2,
            Status::Unknown => 3,
        }
    }

    /// Worse of two, by exit code (UNKNOWN counts as 3, as Nagios does).
    pub fn worst(self, other: Status) -> Status {
        if other.exit_code() > self.exit_code() {
            other
        } else {
            self
        }
    }

    /// Status of `value` against `[warn, crit]` (at or above is a breach).
    pub fn of(value: f64, t: crate::config::Thresholds) -> Status {
        if value >= t.crit() {
            Status::Crit
        } else if value >= t.warn() {
            Status::Warn
        } else {
            Status::Ok
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

/// The unit of a metric value, which is always stored in base units.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Unit {
    /// A plain number.
    None,
    Seconds,
    Bytes,
    /// 0–100.
    Percent,
    /// A monotonically increasing count.
    Count,
}

/// One measured value with its thresholds.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Metric {
    /// Short name, unique within the probe (`latency`, `used`, `load_per_core`).
    pub name: &'static str,
    pub value: f64,
    pub unit: Unit,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub warn: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub crit: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max: Option<f64>,
}

impl Metric {
    pub fn new(name: &'static str, value: f64, unit: Unit) -> Metric {
        let (min, max) = match unit {
            Unit::Percent => (Some(0.0), Some(100.0)),
            Unit::Bytes | Unit::Seconds | Unit::Count => (Some(0.0), None),
            Unit::None => (None, None),
        };
        Metric {
            name,
            value,
            unit,
            warn: None,
            crit: None,
            min,
            max,
        }
    }

    pub fn thresholds(mut self, t: crate::config::Thresholds) -> Metric {
        self.warn = Some(t.warn());
        self.crit = Some(t.crit());
        self
    }
}

/// What a probe saw.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Observation {
    /// The probe's one name: config entry, alert source, JSON key, perfdata label.
    pub probe: &'static str,
    /// The row within a probe that has several (a filesystem's mount point).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    pub status: Status,
    /// Raw text, bounded by the probe; every output escapes it once.
    #[serde(serialize_with = "ser_escaped")]
    pub message: String,
    pub metrics: Vec<Metric>,
    #[serde(rename = "duration_ms", serialize_with = "ser_ms")]
    pub duration: Duration,
}

/// Serializes outside text escaped once, as every other output shows it: a
/// JSON reader (`jq -r`) never gets a raw control character.
pub fn ser_escaped<S: serde::Serializer>(m: &str, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&crate::text::escape(m))
}

fn ser_ms<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64((d.as_secs_f64() * 1e6).round() / 1e3)
}

impl Observation {
    pub fn new(probe: &'static str, status: Status, message: impl Into<String>) -> Observation {
        Observation {
            probe,
            target: None,
            status,
            message: message.into(),
            metrics: Vec::new(),
            duration: Duration::ZERO,
        }
    }

    pub fn target(mut self, t: impl Into<String>) -> Observation {
        self.target = Some(t.into());
        self
    }

    pub fn metric(mut self, m: Metric) -> Observation {
        self.metrics.push(m);
        self
    }

    /// The policy key: the probe, or `probe:target`.
    pub fn key(&self) -> String {
        match &self.target {
            Some(t) => format!("{}:{t}", self.probe),
            None => self.probe.to_string(),
        }
    }

    /// The probe name with its target, for people: `disk /var`.
    pub fn label(&self) -> String {
        match &self.target {
            Some(t) => format!("{} {t}", self.probe),
            None => self.probe.to_string(),
        }
    }
}

/// Where the kernel's trees are mounted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Roots {
    /// `/proc`.
    pub proc: PathBuf,
    /// `/sys/fs/cgroup`.
    pub cgroup: PathBuf,
}

impl Default for Roots {
    fn default() -> Roots {
        Roots {
            proc: "/proc".into(),
            cgroup: "/sys/fs/cgroup".into(),
        }
    }
}

/// What probes may read: the configuration, the time, where `/proc` is, and
/// what the previous check left in the state database. Nothing here changes
/// anything.
#[derive(Debug, Clone)]
pub struct Context<'a> {
    pub config: &'a Config,
    pub now: DateTime<Utc>,
    /// `/proc` (tests point it at fixtures).
    pub proc_root: PathBuf,
    /// `/sys/fs/cgroup`.
    pub cgroup_root: PathBuf,
    /// What the previous check left, read through `prior()`. `check` opens
    /// the state database while the probes do their I/O, so it may be filled
    /// after they start.
    pub prior: &'a OnceLock<Prior>,
}

impl Context<'_> {
    /// What the previous check left; waits until the state has been read.
    /// Probes call it after their I/O, so that a slow state database delays
    /// their judging, not their requests.
    pub fn prior(&self) -> &Prior {
        self.prior.wait()
    }
}

/// What the previous check left in the state database for the probes.
#[derive(Debug, Clone, Default)]
pub struct Prior {
    /// `/proc/stat` counters of the previous check: (total, idle, when).
    pub cpu: Option<cpu::Counters>,
    /// `NRestarts` samples of the last hour, oldest first.
    pub nrestarts: Vec<(DateTime<Utc>, f64)>,
}

/// Facts a probe learned that the next check needs (stored by `check`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Carry {
    pub cpu: Option<cpu::Counters>,
    pub nrestarts: Option<u64>,
    /// The service's phase, used to report API failures as `starting`.
    pub service_phase: Option<service::Phase>,
    /// Trend samples to store: (metric, value).
    pub samples: Vec<(String, f64)>,
}

/// A probe's result: observations plus what to carry to the next check.
#[derive(Debug, Clone, Default)]
pub struct Outcome {
    pub observations: Vec<Observation>,
    pub carry: Carry,
}

impl From<Observation> for Outcome {
    fn from(o: Observation) -> Outcome {
        Outcome {
            observations: vec![o],
            carry: Carry::default(),
        }
    }
}

/// One probe `check` knows.
pub struct Probe {
    /// Its one name: in `check.probes`, in observations, in alert sources.
    pub name: &'static str,
    /// Reads and judges.
    pub run: fn(&Context<'_>) -> Outcome,
    /// Waits on another process or the network (`systemctl`, HTTP): `check`
    /// gives it its own thread, started before anything else. The others
    /// only read local files and run one after the other.
    pub waits: bool,
    /// For a probe that waits: sends its request at once, without waiting
    /// (a non-blocking connect and write), and returns what reads and
    /// judges the answer; `check` calls that on its own thread after its
    /// local work, by when the answer is usually there. No thread to start,
    /// none to wake. `None` (or no `start`): this time, a thread and `run`.
    pub start: Option<fn(&Context<'_>) -> Option<Started>>,
}

/// What reads and judges the answer to a request a probe's `start` sent.
pub type Started = Box<dyn FnOnce(&Context<'_>) -> Outcome>;

/// Needs the sample history: `check` computes it after the probes
/// (`crate::forecast::observe`), where the samples are.
fn forecast_in_check(_: &Context<'_>) -> Outcome {
    Outcome::default()
}

/// Every probe, keyed by its name in `probe_names`, in the order `check`
/// reports them (`probe_names::ALL`, checked equal by a test).
pub const REGISTRY: &[Probe] = &[
    Probe {
        name: names::API,
        run: api::probe,
        waits: true,
        start: Some(api::start),
    },
    Probe {
        name: names::CPU,
        run: cpu::probe,
        waits: false,
        start: None,
    },
    Probe {
        name: names::MEMORY,
        run: memory::probe,
        waits: false,
        start: None,
    },
    Probe {
        name: names::DISK,
        run: disk::probe,
        waits: false,
        start: None,
    },
    Probe {
        name: names::DATABASE,
        run: database::probe,
        waits: false,
        start: None,
    },
    Probe {
        name: names::SERVICE,
        run: service::probe,
        waits: true,
        start: Some(service::start),
    },
    Probe {
        name: names::UNITS,
        run: units::probe,
        // Usually rides on the service probe's `systemctl show` (then it
        // returns at once): no thread of its own.
        waits: false,
        start: None,
    },
    Probe {
        name: names::BACKUPS,
        run: backups::probe,
        waits: false,
        start: None,
    },
    Probe {
        name: names::FORECAST,
        run: forecast_in_check,
        waits: false,
        start: None,
    },
];

/// The probe of that name.
pub fn find(name: &str) -> Option<&'static Probe> {
    REGISTRY.iter().find(|p| p.name == name)
}

/// Runs one probe by name.
pub fn run(name: &str, ctx: &Context<'_>) -> Outcome {
    let start = std::time::Instant::now();
    // Fault injection (tests/faults.rs): a probe with a bug that panics.
    if name == crate::probe_names::CPU && crate::failpoint::is("probe.cpu.panic") {
        panic!("failpoint probe.cpu.panic");
    }
    let out = match find(name) {
        Some(p) => (p.run)(ctx),
        None => Observation::new("check", Status::Unknown, format!("unknown probe {name}")).into(),
    };
    timed(out, start)
}

/// `name`'s request sent (see `Probe::start`), with when it began; `None`
/// when the probe has no `start` or declined.
pub fn start(name: &str, ctx: &Context<'_>) -> Option<(Started, std::time::Instant)> {
    let begun = std::time::Instant::now();
    let f = find(name)?.start?;
    f(ctx).map(|s| (s, begun))
}

/// Reads and judges what `start` sent: the durations count from the send.
pub fn finish(started: Started, begun: std::time::Instant, ctx: &Context<'_>) -> Outcome {
    timed(started(ctx), begun)
}

/// Observations without a duration of their own get the probe's.
fn timed(mut out: Outcome, start: std::time::Instant) -> Outcome {
    let took = start.elapsed();
    for o in &mut out.observations {
        if o.duration.is_zero() {
            o.duration = took;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The layering of ARCHITECTURE.md: probes observe; they never reach the
    /// alerts log, the checker or the restart, and systemd never reaches back
    /// up to the restart (its token is `confirm::Confirmed`).
    #[test]
    fn probes_and_systemd_import_nothing_above_them() {
        let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        for (dir, banned) in [
            (
                "probe",
                &["crate::alerts", "crate::check", "crate::restart"][..],
            ),
            (
                "systemd",
                &["crate::restart", "crate::check", "crate::probe"][..],
            ),
        ] {
            // Every file, also in submodule directories (systemd/dbus/).
            let mut files = Vec::new();
            let mut dirs = vec![src.join(dir)];
            while let Some(d) = dirs.pop() {
                for e in std::fs::read_dir(d).unwrap() {
                    let p = e.unwrap().path();
                    if p.is_dir() {
                        dirs.push(p);
                    } else {
                        files.push(p);
                    }
                }
            }
            for p in files {
                let text = std::fs::read_to_string(&p).unwrap();
                // The code, not its tests (this test names what it bans).
                let code = text.split("#[cfg(test)]").next().unwrap_or("");
                for b in banned {
                    assert!(!code.contains(b), "{} uses {b}", p.display());
                }
            }
        }
        // The leaves import nothing of the crate; `config` only the names.
        let code = |f: &str| {
            let text = std::fs::read_to_string(src.join(f)).unwrap();
            text.split("#[cfg(test)]").next().unwrap_or("").to_string()
        };
        for leaf in ["probe_names.rs", "text.rs", "confirm.rs"] {
            assert!(!code(leaf).contains("crate::"), "{leaf} imports the crate");
        }
        for f in ["config/mod.rs", "config/validate.rs"] {
            let c = code(f);
            assert_eq!(
                c.matches("crate::").count(),
                c.matches("crate::probe_names").count(),
                "{f} imports more than probe_names"
            );
        }
    }

    #[test]
    fn the_registry_holds_the_contracts_probes_in_order() {
        let keys: Vec<&str> = REGISTRY.iter().map(|p| p.name).collect();
        assert_eq!(keys, names::ALL);
        let waiting: Vec<&str> = REGISTRY
            .iter()
            .filter(|p| p.waits)
            .map(|p| p.name)
            .collect();
        assert_eq!(waiting, ["api", "service"]);
        assert!(find("nope").is_none());
    }

    #[test]
    fn worst_status_by_exit_code() {
        assert_eq!(Status::Ok.worst(Status::Warn), Status::Warn);
        assert_eq!(Status::Crit.worst(Status::Warn), Status::Crit);
        assert_eq!(Status::Crit.worst(Status::Unknown), Status::Unknown);
        assert_eq!(Status::Starting.worst(Status::Skipped), Status::Starting);
        assert_eq!(
            Status::of(80.0, crate::config::Thresholds(80.0, 95.0)),
            Status::Warn
        );
        assert_eq!(
            Status::of(79.9, crate::config::Thresholds(80.0, 95.0)),
            Status::Ok
        );
    }

    #[test]
    fn human_formats() {
        use crate::text::{human_bytes, human_duration};
        assert_eq!(human_bytes(512.0), "512 B");
        assert_eq!(human_bytes(3.5 * 1024.0 * 1024.0 * 1024.0), "3.5 GiB");
        assert_eq!(human_duration(Duration::from_secs(900)), "15m");
        assert_eq!(human_duration(Duration::from_secs(3 * 3600 + 120)), "3h 2m");
        assert_eq!(human_duration(Duration::from_secs(42)), "42s");
        assert_eq!(
            human_duration(Duration::from_secs(2 * 86400 + 3600)),
            "2d 1h"
        );
    }
}
