//! Configuration: the TOML contract of DESIGN.md, its built-in defaults, the
//! lookup order and validation. Every key is optional; no file at all means
//! defaults. Unknown keys are errors that name the key, line and column.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Deserializer};

mod validate;
mod values;
pub use validate::{ntfy_topic, valid_name};
use values::de_duration;
pub use values::{ByteSize, DurationList, DurationThresholds, Thresholds, parse_size};

/// Where the configuration came from, for messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    Defaults,
    File(PathBuf),
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Defaults => f.write_str("built-in defaults"),
            Source::File(p) => write!(f, "{}", p.display()),
        }
    }
}

/// A configuration that cannot be used. Commands map it to exit 78 (`check`
/// to 3, the Nagios UNKNOWN).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(pub String);

/// The process environment as far as configuration cares; passed in so tests
/// (and `main`) decide what it is.
#[derive(Debug, Clone, Default)]
pub struct Env {
    pub home: Option<PathBuf>,
    pub xdg_config_home: Option<PathBuf>,
    pub xdg_data_home: Option<PathBuf>,
    pub xdg_state_home: Option<PathBuf>,
    pub grokmon_config: Option<PathBuf>,
}

impl Env {
    /// Reads the variables grokmon's configuration depends on.
    pub fn from_process() -> Env {
        let var = |k: &str| {
            std::env::var_os(k)
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        };
        Env {
            home: var("HOME"),
            xdg_config_home: var("XDG_CONFIG_HOME"),
            xdg_data_home: var("XDG_DATA_HOME"),
            xdg_state_home: var("XDG_STATE_HOME"),
            grokmon_config: var("GROKMON_CONFIG"),
        }
    }

    fn home(&self) -> PathBuf {
        self.home.clone().unwrap_or_else(|| PathBuf::from("/root"))
    }

    fn data_home(&self) -> PathBuf {
        self.xdg_data_home
            .clone()
            .filter(|p| p.is_absolute())
            .unwrap_or_else(|| self.home().join(".local/share"))
    }

    fn state_home(&self) -> PathBuf {
        self.xdg_state_home
            .clone()
            .filter(|p| p.is_absolute())
            .unwrap_or_else(|| self.home().join(".local/state"))
    }

    fn config_home(&self) -> PathBuf {
        self.xdg_config_home
            .clone()
            .filter(|p| p.is_absolute())
            .unwrap_or_else(|| self.home().join(".config"))
    }

    /// Expands a leading `~` to the home directory.
    pub fn expand(&self, p: &Path) -> PathBuf {
        match p.strip_prefix("~") {
            Ok(rest) => self.home().join(rest),
            Err(_) => p.to_path_buf(),
        }
    }
}

/// Replaces every URL-like word (`scheme://…`, up to a quote or a space) by
/// `<url>`.
fn redact_urls(text: &str) -> String {
    let is_delim = |c: char| c.is_whitespace() || "`\"'".contains(c);
    let mut out = String::with_capacity(text.len());
    for word in text.split_inclusive(is_delim) {
        let (body, delim) = match word.char_indices().last() {
            Some((at, c)) if is_delim(c) => (&word[..at], &word[at..]),
            _ => (word, ""),
        };
        if body.contains("://") {
            out.push_str("<url>");
        } else {
            out.push_str(body);
        }
        out.push_str(delim);
    }
    out
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    #[default]
    User,
    System,
}

impl Scope {
    /// The name as the configuration spells it: `user` or `system`.
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::User => "user",
            Scope::System => "system",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Compression {
    #[default]
    Zstd,
    Gzip,
    None,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawPaths {
    database: Option<PathBuf>,
    backups: Option<PathBuf>,
    alerts_log: Option<PathBuf>,
    state: Option<PathBuf>,
}

/// Where a system-scope configuration (`[service] scope = "system"`) keeps
/// its database, backups and state unless `[paths]` says otherwise: the
/// system units' `StateDirectory=grokmon`, owned by the grokmon user.
pub const SYSTEM_STATE_DIR: &str = "/var/lib/grokmon";

/// Resolved paths, `~` expanded.
#[derive(Debug, Clone)]
pub struct Paths {
    pub database: PathBuf,
    pub backups: PathBuf,
    pub alerts_log: PathBuf,
    pub state: PathBuf,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Service {
    pub unit: String,
    pub scope: Scope,
    #[serde(deserialize_with = "de_duration")]
    pub startup_grace: Duration,
}

impl Default for Service {
    fn default() -> Self {
        Service {
            unit: "grokmon.service".into(),
            scope: Scope::User,
            startup_grace: Duration::from_secs(120),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Api {
    pub url: String,
    #[serde(deserialize_with = "de_duration")]
    pub timeout: Duration,
    pub edge_url: Option<String>,
    /// JSON pointer to the status word in the health body (default `/status`).
    pub status_pointer: String,
    /// Extra words that mean healthy, besides healthy/ok/up/pass.
    pub healthy_words: Vec<String>,
}

impl Default for Api {
    fn default() -> Self {
        Api {
            url: "http://127.0.0.1:8000/api/health".into(),
            timeout: Duration::from_secs(5),
            edge_url: None,
            status_pointer: "/status".into(),
            healthy_words: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CheckThresholds {
    pub cpu: Thresholds,
    pub memory: Thresholds,
    pub disk: Thresholds,
    pub load_per_core: Thresholds,
    pub database_mb: Thresholds,
    pub service_memory: Thresholds,
    pub backup_age: DurationThresholds,
    pub restarts_per_hour: Thresholds,
}

impl Default for CheckThresholds {
    fn default() -> Self {
        CheckThresholds {
            cpu: Thresholds(80.0, 95.0),
            memory: Thresholds(85.0, 95.0),
            disk: Thresholds(90.0, 95.0),
            load_per_core: Thresholds(1.5, 3.0),
            database_mb: Thresholds(1000.0, 2000.0),
            service_memory: Thresholds(80.0, 90.0),
            backup_age: DurationThresholds(
                Duration::from_secs(26 * 3600),
                Duration::from_secs(50 * 3600),
            ),
            restarts_per_hour: Thresholds(3.0, 6.0),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Check {
    pub api: Api,
    pub confirm_after: u32,
    #[serde(deserialize_with = "de_duration")]
    pub renotify: Duration,
    pub thresholds: CheckThresholds,
    pub probes: Vec<String>,
    /// Warn when the disk-full forecast falls within this horizon.
    #[serde(deserialize_with = "de_duration")]
    pub forecast_horizon: Duration,
    /// How long trend samples are kept in the state database.
    #[serde(deserialize_with = "de_duration")]
    pub keep_samples: Duration,
    /// How often the check runs: the period `units install` puts in the
    /// check timer, and what `run` uses to notice that checks stopped.
    #[serde(deserialize_with = "de_duration")]
    pub interval: Duration,
    /// Detect flapping: a probe whose state changes too often gets one
    /// `flapping` line instead of a line per change.
    pub flap_detection: bool,
    /// Percent of state changes over the last 20 checks: at or below the
    /// first a flapping probe has settled, at or above the second it flaps.
    pub flap_thresholds: Thresholds,
}

impl Default for Check {
    fn default() -> Self {
        Check {
            api: Api::default(),
            confirm_after: 2,
            renotify: Duration::from_secs(3600),
            thresholds: CheckThresholds::default(),
            probes: crate::probe_names::ALL
                .iter()
                .map(|s| s.to_string())
                .collect(),
            forecast_horizon: Duration::from_secs(14 * 86400),
            keep_samples: Duration::from_secs(30 * 86400),
            interval: Duration::from_secs(300),
            flap_detection: true,
            flap_thresholds: Thresholds(15.0, 30.0),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Alerts {
    pub max_size: ByteSize,
    pub keep: u32,
}

impl Default for Alerts {
    fn default() -> Self {
        Alerts {
            max_size: ByteSize(10 << 20),
            keep: 5,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Backup {
    #[serde(deserialize_with = "de_duration")]
    pub retention: Duration,
    pub keep_last: u32,
    pub compression: Compression,
    pub level: i32,
}

impl Default for Backup {
    fn default() -> Self {
        Backup {
            retention: Duration::from_secs(30 * 86400),
            keep_last: 3,
            compression: Compression::Zstd,
            level: 3,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Orchestrator {
    pub listen: String,
    #[serde(deserialize_with = "de_duration")]
    pub shutdown_timeout: Duration,
    pub backoff: DurationList,
    pub reconnect_after: u32,
    #[serde(deserialize_with = "de_duration")]
    pub keep_readings: Duration,
}

impl Default for Orchestrator {
    fn default() -> Self {
        Orchestrator {
            listen: "127.0.0.1:8000".into(),
            shutdown_timeout: Duration::from_secs(15),
            backoff: DurationList(vec![
                Duration::from_secs(10),
                Duration::from_secs(20),
                Duration::from_secs(30),
            ]),
            reconnect_after: 3,
            keep_readings: Duration::from_secs(90 * 86400),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Ai {
    pub enabled: bool,
    pub base_url: String,
    pub model: String,
    /// Name of the environment variable that holds the API key.
    pub api_key_env: Option<String>,
    /// File that holds the API key; a relative name is looked up in
    /// `$CREDENTIALS_DIRECTORY` (systemd's `LoadCredential=`).
    pub api_key_file: Option<PathBuf>,
    #[serde(deserialize_with = "de_duration")]
    pub interval: Duration,
    #[serde(deserialize_with = "de_duration")]
    pub timeout: Duration,
    pub backoff: DurationList,
    /// The system prompt: text, or `@/path/to/file`.
    pub system_prompt: Option<String>,
    /// Record decisions without running any action.
    pub dry_run: bool,
}

impl Default for Ai {
    fn default() -> Self {
        Ai {
            enabled: false,
            base_url: "https://api.x.ai/v1".into(),
            model: "grok-4".into(),
            api_key_env: None,
            api_key_file: None,
            interval: Duration::from_secs(30 * 60),
            timeout: Duration::from_secs(60),
            backoff: DurationList(vec![
                Duration::from_secs(60),
                Duration::from_secs(120),
                Duration::from_secs(300),
            ]),
            system_prompt: None,
            dry_run: false,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Restart {
    /// Minimum time between two reviewed restarts (unless --force).
    #[serde(deserialize_with = "de_duration")]
    pub cooldown: Duration,
    /// How long to wait for the service to be active and healthy again.
    #[serde(deserialize_with = "de_duration")]
    pub wait: Duration,
}

impl Default for Restart {
    fn default() -> Self {
        Restart {
            cooldown: Duration::from_secs(300),
            wait: Duration::from_secs(90),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SensorKind {
    Command,
    Http,
    File,
    Sim,
}

/// One `[[sensor]]`. Kind-specific keys are checked by `validate`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sensor {
    pub name: String,
    pub kind: SensorKind,
    #[serde(default = "default_sensor_interval", deserialize_with = "de_duration")]
    pub interval: Duration,
    #[serde(default = "default_sensor_timeout", deserialize_with = "de_duration")]
    pub timeout: Duration,
    #[serde(default)]
    pub unit: Option<String>,
    /// `command`: the argv to run (no shell).
    #[serde(default)]
    pub command: Option<Vec<String>>,
    /// `http`: the URL to GET.
    #[serde(default)]
    pub url: Option<String>,
    /// `command`/`http`: where the number sits in a JSON answer.
    #[serde(default)]
    pub json_pointer: Option<String>,
    /// `file`: the file to read.
    #[serde(default)]
    pub path: Option<PathBuf>,
    /// `file`: multiplier applied to the value read (0.001 for millidegrees).
    #[serde(default)]
    pub scale: Option<f64>,
    /// Optional argv run at the reconnection step.
    #[serde(default)]
    pub reconnect: Option<Vec<String>>,
    /// `sim`: random-walk seed.
    #[serde(default)]
    pub seed: Option<u64>,
    /// `sim`: starting value.
    #[serde(default)]
    pub start: Option<f64>,
    /// `sim`: every Nth read fails.
    #[serde(default)]
    pub fail_every: Option<u64>,
    /// `sim`: every Nth read hangs (until the timeout).
    #[serde(default)]
    pub hang_every: Option<u64>,
    /// `sim`: every Nth read returns garbage.
    #[serde(default)]
    pub garbage_every: Option<u64>,
}

/// The shortest sensor interval: `1ns` on a command sensor started about
/// 450 processes a second.
pub const MIN_SENSOR_INTERVAL: Duration = Duration::from_millis(100);

fn default_sensor_interval() -> Duration {
    Duration::from_secs(60)
}
fn default_sensor_timeout() -> Duration {
    Duration::from_secs(10)
}

/// One `[[action]]`: a command fixed in the configuration that the AI may
/// choose by name, never write.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Action {
    pub name: String,
    #[serde(default)]
    pub description: String,
    pub command: Vec<String>,
    #[serde(default = "default_action_timeout", deserialize_with = "de_duration")]
    pub timeout: Duration,
    #[serde(default = "default_action_cooldown", deserialize_with = "de_duration")]
    pub cooldown: Duration,
}

fn default_action_timeout() -> Duration {
    Duration::from_secs(30)
}
fn default_action_cooldown() -> Duration {
    Duration::from_secs(600)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NotifyKind {
    Webhook,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum NotifyFormat {
    Discord,
    Slack,
    Ntfy,
    #[default]
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum MinLevel {
    Info,
    Ok,
    #[default]
    Warn,
    Crit,
}

/// One `[[notify]]`. The URL may hold a token: never print it.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Notify {
    pub kind: NotifyKind,
    #[serde(default)]
    pub format: NotifyFormat,
    pub url: String,
    #[serde(default)]
    pub min_level: MinLevel,
    #[serde(default = "default_notify_timeout", deserialize_with = "de_duration")]
    pub timeout: Duration,
}

/// The heartbeat receiver's protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum HeartbeatFormat {
    /// healthchecks.io (and self-hosted healthchecks): POST `url`, or
    /// `url/fail`, with the summary as the body.
    #[default]
    Healthchecks,
    /// Uptime Kuma's push monitor: GET `url?status=up|down&msg=…&ping=…`.
    UptimeKuma,
}

impl<'de> Deserialize<'de> for HeartbeatFormat {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        match s.as_str() {
            "healthchecks" => Ok(HeartbeatFormat::Healthchecks),
            "uptime-kuma" => Ok(HeartbeatFormat::UptimeKuma),
            other => Err(serde::de::Error::custom(format!(
                "heartbeat.format: unknown format {:?}: expected \"healthchecks\" or \"uptime-kuma\"",
                redact_urls(other)
            ))),
        }
    }
}

/// `[heartbeat]`. The URL is a secret (whoever has it can ping, or stay
/// silent for us): never printed, logged or quoted in an error.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Heartbeat {
    pub url: String,
    #[serde(default)]
    pub format: HeartbeatFormat,
    #[serde(default = "default_notify_timeout", deserialize_with = "de_duration")]
    pub timeout: Duration,
}

impl fmt::Debug for Heartbeat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Heartbeat")
            .field("url", &"<redacted>")
            .field("format", &self.format)
            .field("timeout", &self.timeout)
            .finish()
    }
}

fn default_notify_timeout() -> Duration {
    Duration::from_secs(5)
}

impl fmt::Debug for Notify {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Notify")
            .field("kind", &self.kind)
            .field("format", &self.format)
            .field("url", &"<redacted>")
            .field("min_level", &self.min_level)
            .finish()
    }
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
struct Raw {
    paths: RawPaths,
    service: Service,
    check: Check,
    alerts: Alerts,
    backup: Backup,
    orchestrator: Orchestrator,
    ai: Ai,
    restart: Restart,
    sensor: Vec<Sensor>,
    action: Vec<Action>,
    notify: Vec<Notify>,
    heartbeat: Option<Heartbeat>,
}

/// The whole configuration, defaults applied and paths resolved.
#[derive(Debug, Clone)]
pub struct Config {
    pub source: Source,
    pub paths: Paths,
    pub service: Service,
    pub check: Check,
    pub alerts: Alerts,
    pub backup: Backup,
    pub orchestrator: Orchestrator,
    pub ai: Ai,
    pub restart: Restart,
    pub sensors: Vec<Sensor>,
    pub actions: Vec<Action>,
    pub notify: Vec<Notify>,
    /// `[heartbeat]`: an outside dead man's switch pinged after each check.
    pub heartbeat: Option<Heartbeat>,
}

impl Config {
    /// Built-in defaults for this environment.
    pub fn defaults(env: &Env) -> Config {
        Config::from_raw(Raw::default(), Source::Defaults, env)
            .expect("built-in defaults are valid")
    }

    /// Finds and loads the configuration: `explicit` (`--config`), else
    /// `$GROKMON_CONFIG`, else `$XDG_CONFIG_HOME/grokmon/config.toml`, else
    /// `/etc/grokmon/config.toml`, else built-in defaults. An explicitly named
    /// file must exist; the implicit ones are skipped when absent.
    pub fn load(explicit: Option<&Path>, env: &Env) -> Result<Config, ConfigError> {
        if let Some(p) = explicit.or(env.grokmon_config.as_deref()) {
            let p = env.expand(p);
            return Config::from_file(&p, env);
        }
        for p in [
            env.config_home().join("grokmon/config.toml"),
            PathBuf::from("/etc/grokmon/config.toml"),
        ] {
            match std::fs::symlink_metadata(&p) {
                Ok(_) => return Config::from_file(&p, env),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => {
                    return Err(ConfigError(format!(
                        "cannot read config {}: {e}",
                        p.display()
                    )));
                }
            }
        }
        Ok(Config::defaults(env))
    }

    /// Loads one file.
    pub fn from_file(path: &Path, env: &Env) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| ConfigError(format!("cannot read config {}: {e}", path.display())))?;
        Config::parse(&text, Source::File(path.to_path_buf()), env)
    }

    /// Parses configuration text.
    pub fn parse(text: &str, source: Source, env: &Env) -> Result<Config, ConfigError> {
        let raw: Raw = toml::from_str(text).map_err(|e| {
            // A value echoed by the parser may be a webhook URL typed into
            // the wrong key: URLs are secrets, so none is quoted.
            let msg = redact_urls(e.message().trim_end());
            match e.span() {
                Some(span) => {
                    let (line, col) = line_col(text, span.start);
                    ConfigError(format!("config {source}: line {line}, column {col}: {msg}"))
                }
                None => ConfigError(format!("config {source}: {msg}")),
            }
        })?;
        Config::from_raw(raw, source, env)
    }

    fn from_raw(raw: Raw, source: Source, env: &Env) -> Result<Config, ConfigError> {
        // A system install keeps its data in the units' StateDirectory,
        // whoever runs the command: the service (as the grokmon user) and a
        // person (as root) see the same files.
        let system = raw.service.scope == Scope::System;
        let (data, state_dir) = if system {
            let d = PathBuf::from(SYSTEM_STATE_DIR);
            (d.clone(), d)
        } else {
            (
                env.data_home().join("grokmon"),
                env.state_home().join("grokmon"),
            )
        };
        let p = raw.paths;
        let paths = Paths {
            database: env.expand(&p.database.unwrap_or_else(|| data.join("grokmon.db"))),
            backups: env.expand(&p.backups.unwrap_or_else(|| data.join("backups"))),
            alerts_log: env.expand(
                &p.alerts_log
                    .unwrap_or_else(|| PathBuf::from("/tmp/grokmon_alerts.log")),
            ),
            state: env.expand(&p.state.unwrap_or_else(|| state_dir.join("state.db"))),
        };
        let mut sensors = raw.sensor;
        for s in &mut sensors {
            if let Some(path) = &s.path {
                s.path = Some(env.expand(path));
            }
        }
        let mut ai = raw.ai;
        if let Some(f) = &ai.api_key_file {
            ai.api_key_file = Some(env.expand(f));
        }
        let cfg = Config {
            source,
            paths,
            service: raw.service,
            check: raw.check,
            alerts: raw.alerts,
            backup: raw.backup,
            orchestrator: raw.orchestrator,
            ai,
            restart: raw.restart,
            sensors,
            actions: raw.action,
            notify: raw.notify,
            heartbeat: raw.heartbeat,
        };
        cfg.validate()?;
        Ok(cfg)
    }

    fn err(&self, msg: impl fmt::Display) -> ConfigError {
        ConfigError(format!("config {}: {msg}", self.source))
    }
}

/// 1-based line and column of a byte offset.
fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env() -> Env {
        Env {
            home: Some("/home/u".into()),
            ..Env::default()
        }
    }

    #[test]
    fn defaults_follow_the_contract() {
        let c = Config::defaults(&env());
        assert_eq!(
            c.paths.database,
            Path::new("/home/u/.local/share/grokmon/grokmon.db")
        );
        assert_eq!(
            c.paths.backups,
            Path::new("/home/u/.local/share/grokmon/backups")
        );
        assert_eq!(c.paths.alerts_log, Path::new("/tmp/grokmon_alerts.log"));
        assert_eq!(
            c.paths.state,
            Path::new("/home/u/.local/state/grokmon/state.db")
        );
        assert_eq!(c.service.unit, "grokmon.service");
        assert_eq!(c.service.scope, Scope::User);
        assert_eq!(c.check.confirm_after, 2);
        assert_eq!(c.check.thresholds.disk, Thresholds(90.0, 95.0));
        assert_eq!(
            c.check.thresholds.backup_age.0,
            Duration::from_secs(26 * 3600)
        );
        assert_eq!(c.alerts.max_size, ByteSize(10 << 20));
        assert_eq!(c.backup.retention, Duration::from_secs(30 * 86400));
        assert_eq!(c.orchestrator.backoff.0.len(), 3);
        assert!(!c.ai.enabled);
        assert_eq!(c.check.probes.len(), 9);
    }

    #[test]
    fn a_system_scope_keeps_its_data_in_the_state_directory_for_everyone() {
        for home in ["/root", "/var/lib/grokmon", "/home/u"] {
            let e = Env {
                home: Some(home.into()),
                xdg_data_home: Some("/d".into()),
                xdg_state_home: Some("/s".into()),
                ..Env::default()
            };
            let c = Config::parse("[service]\nscope = \"system\"\n", Source::Defaults, &e).unwrap();
            assert_eq!(c.paths.database, Path::new("/var/lib/grokmon/grokmon.db"));
            assert_eq!(c.paths.backups, Path::new("/var/lib/grokmon/backups"));
            assert_eq!(c.paths.state, Path::new("/var/lib/grokmon/state.db"));
            assert_eq!(c.paths.alerts_log, Path::new("/tmp/grokmon_alerts.log"));
            // Explicit paths still win.
            let c = Config::parse(
                "[service]\nscope = \"system\"\n[paths]\nstate = \"/x/s.db\"\n",
                Source::Defaults,
                &e,
            )
            .unwrap();
            assert_eq!(c.paths.state, Path::new("/x/s.db"));
            assert_eq!(c.paths.database, Path::new("/var/lib/grokmon/grokmon.db"));
        }
    }

    #[test]
    fn xdg_dirs_and_tilde() {
        let e = Env {
            home: Some("/home/u".into()),
            xdg_data_home: Some("/d".into()),
            xdg_state_home: Some("/s".into()),
            ..Env::default()
        };
        let c = Config::parse(
            "[paths]\nalerts_log = \"~/alerts.log\"\n",
            Source::Defaults,
            &e,
        )
        .unwrap();
        assert_eq!(c.paths.database, Path::new("/d/grokmon/grokmon.db"));
        assert_eq!(c.paths.state, Path::new("/s/grokmon/state.db"));
        assert_eq!(c.paths.alerts_log, Path::new("/home/u/alerts.log"));
    }

    #[test]
    fn a_duration_beyond_1000_years_is_a_config_error() {
        for text in [
            "[check]\nkeep_samples = \"100000000000d\"\n",
            "[check.thresholds]\nbackup_age = [\"1d\", \"100000000000d\"]\n",
            "[orchestrator]\nbackoff = [\"100000000000d\"]\n",
        ] {
            let err = Config::parse(text, Source::Defaults, &env())
                .unwrap_err()
                .to_string();
            assert!(err.contains("too long"), "{err}");
        }
        Config::parse(
            "[check]\nkeep_samples = \"1000y\"\n",
            Source::Defaults,
            &env(),
        )
        .unwrap();
    }

    #[test]
    fn a_bad_duration_says_what_a_duration_looks_like() {
        for (text, want) in [
            ("[check]\nrenotify = 5\n", "a duration is a string such as"),
            (
                "[check]\nrenotify = \"forever\"\n",
                "invalid duration \"forever\"",
            ),
        ] {
            let err = Config::parse(text, Source::Defaults, &env())
                .unwrap_err()
                .to_string();
            assert!(err.contains(want), "{err}");
            assert!(err.contains("line 2"), "{err}");
        }
    }

    #[test]
    fn a_webhook_url_in_the_wrong_key_is_not_echoed() {
        let err = Config::parse(
            "[[notify]]\nkind = \"webhook\"\nformat = \"https://hooks.slack.com/services/T0/B0/SECRET\"\n",
            Source::Defaults,
            &env(),
        )
        .unwrap_err()
        .to_string();
        assert!(!err.contains("SECRET"), "{err}");
        assert!(err.contains("unknown variant `<url>`"), "{err}");
        assert!(err.contains("line 3"), "{err}");
    }

    #[test]
    fn a_huge_alerts_keep_is_a_config_error() {
        let err = Config::parse("[alerts]\nkeep = 4000000000\n", Source::Defaults, &env())
            .unwrap_err()
            .to_string();
        assert!(err.contains("at most 1000 rotated files"), "{err}");
        Config::parse("[alerts]\nkeep = 1000\n", Source::Defaults, &env()).unwrap();
    }

    #[test]
    fn a_gzip_level_above_9_is_a_config_error() {
        let err = Config::parse(
            "[backup]\ncompression = \"gzip\"\nlevel = 15\n",
            Source::Defaults,
            &env(),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("gzip levels are 1..=9"), "{err}");
        for ok in [
            "compression = \"gzip\"\nlevel = 9",
            "compression = \"zstd\"\nlevel = 15",
        ] {
            Config::parse(&format!("[backup]\n{ok}\n"), Source::Defaults, &env()).unwrap();
        }
    }

    #[test]
    fn an_empty_path_is_a_config_error() {
        for key in ["database", "backups", "alerts_log", "state"] {
            let err = Config::parse(
                &format!("[paths]\n{key} = \"\"\n"),
                Source::Defaults,
                &env(),
            )
            .unwrap_err()
            .to_string();
            assert!(err.contains(&format!("paths.{key} is empty")), "{err}");
        }
    }

    #[test]
    fn unknown_key_names_key_line_and_column() {
        let err = Config::parse(
            "[check]\nconfirm_after = 3\n  renotfy = \"1h\"\n",
            Source::Defaults,
            &env(),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("renotfy"), "{err}");
        assert!(err.contains("line 3, column 3"), "{err}");
    }

    #[test]
    fn wrong_type_is_named() {
        let err = Config::parse(
            "[check]\nconfirm_after = \"two\"\n",
            Source::Defaults,
            &env(),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("line 2"), "{err}");
        assert!(err.contains("invalid type"), "{err}");
    }

    #[test]
    fn durations_and_sizes() {
        let c = Config::parse(
            "[check]\nrenotify = \"30m\"\n[check.thresholds]\nbackup_age = [\"1d\", \"2d\"]\n[alerts]\nmax_size = \"1MiB\"\n",
            Source::Defaults,
            &env(),
        )
        .unwrap();
        assert_eq!(c.check.renotify, Duration::from_secs(1800));
        assert_eq!(
            c.check.thresholds.backup_age.1,
            Duration::from_secs(2 * 86400)
        );
        assert_eq!(c.alerts.max_size, ByteSize(1 << 20));
        assert!(Config::parse("[check]\nrenotify = \"soon\"\n", Source::Defaults, &env()).is_err());
        assert_eq!(parse_size("10 MB").unwrap(), 10_000_000);
        assert!(parse_size("10 parsecs").is_err());
    }

    #[test]
    fn validation_catches_what_types_cannot() {
        for (text, needle) in [
            (
                "[check.thresholds]\ncpu = [95, 80]\n",
                "check.thresholds.cpu",
            ),
            ("[check]\nprobes = [\"api\", \"dns\"]\n", "dns"),
            ("[check]\nconfirm_after = 0\n", "confirm_after"),
            (
                "[check]\nflap_thresholds = [30, 15]\n",
                "check.flap_thresholds",
            ),
            (
                "[check]\nflap_thresholds = [0, 15]\n",
                "check.flap_thresholds",
            ),
            ("[backup]\nkeep_last = 0\n", "keep_last"),
            (
                "[orchestrator]\nlisten = \"eight thousand\"\n",
                "orchestrator.listen",
            ),
            ("[[sensor]]\nname = \"t\"\nkind = \"command\"\n", "command"),
            (
                "[[sensor]]\nname = \"a b\"\nkind = \"sim\"\n",
                "sensor name",
            ),
            (
                "[[sensor]]\nname = \"t\"\nkind = \"sim\"\n[[sensor]]\nname = \"t\"\nkind = \"sim\"\n",
                "twice",
            ),
            ("[[action]]\nname = \"fan\"\ncommand = []\n", "non-empty"),
            (
                "[[sensor]]\nname = \"t\"\nkind = \"command\"\ncommand = [\"/bin/true\"]\ninterval = \"1ns\"\n",
                "sensor \"t\": interval 1ns is below the minimum of 100ms",
            ),
            (
                "[[sensor]]\nname = \"t\"\nkind = \"sim\"\ninterval = \"99ms\"\n",
                "interval 99ms is below",
            ),
            (
                "[[sensor]]\nname = \"t\"\nkind = \"sim\"\ntimeout = \"0s\"\n",
                "timeout must be greater than 0",
            ),
        ] {
            let err = Config::parse(text, Source::Defaults, &env())
                .unwrap_err()
                .to_string();
            assert!(err.contains(needle), "{text:?} gave {err}");
        }
    }

    #[test]
    fn the_sensor_interval_floor_is_inclusive() {
        let c = Config::parse(
            "[[sensor]]\nname = \"t\"\nkind = \"sim\"\ninterval = \"100ms\"\n",
            Source::Defaults,
            &env(),
        )
        .unwrap();
        assert_eq!(c.sensors[0].interval, MIN_SENSOR_INTERVAL);
    }

    #[test]
    fn notify_url_is_never_echoed() {
        let err = Config::parse(
            "[[notify]]\nkind = \"webhook\"\nurl = \"ftp://secret-token@x\"\n",
            Source::Defaults,
            &env(),
        )
        .unwrap_err()
        .to_string();
        assert!(!err.contains("secret-token"), "{err}");
        let c = Config::parse(
            "[[notify]]\nkind = \"webhook\"\nurl = \"https://h/secret-token\"\n",
            Source::Defaults,
            &env(),
        )
        .unwrap();
        assert!(!format!("{c:?}").contains("secret-token"));
    }

    #[test]
    fn ntfy_url_without_topic_is_refused_at_load() {
        for url in ["https://ntfy.example/", "https://ntfy.example"] {
            let text =
                format!("[[notify]]\nkind = \"webhook\"\nformat = \"ntfy\"\nurl = \"{url}\"\n");
            let err = Config::parse(&text, Source::Defaults, &env())
                .unwrap_err()
                .to_string();
            assert!(
                err.contains("notify #1: an ntfy URL must end with the topic"),
                "{err}"
            );
            assert!(!err.contains("ntfy.example"), "{err}");
        }
        let ok = "[[notify]]\nkind = \"webhook\"\nformat = \"ntfy\"\nurl = \"https://ntfy.example/grow\"\n";
        assert!(Config::parse(ok, Source::Defaults, &env()).is_ok());
    }

    #[test]
    fn api_health_rules() {
        let c = Config::parse(
            "[check.api]\nstatus_pointer = \"/health/state\"\nhealthy_words = [\"fine\"]\n",
            Source::Defaults,
            &env(),
        )
        .unwrap();
        assert_eq!(c.check.api.status_pointer, "/health/state");
        assert_eq!(c.check.api.healthy_words, ["fine"]);
        let err = Config::parse(
            "[check.api]\nstatus_pointer = \"status\"\n",
            Source::Defaults,
            &env(),
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("check.api.status_pointer \"status\" is not a JSON pointer"),
            "{err}"
        );
    }
}
