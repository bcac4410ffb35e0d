//! Validation of a parsed configuration, per section, and every limit in one
//! place: what types alone cannot say (ranges, names, URLs, what each sensor
//! kind needs), the longest duration accepted anywhere, and the durations
//! `run`'s loops can count with.

use std::collections::HashSet;
use std::time::Duration;

use super::*;
use crate::probe_names;

/// The shortest and longest `check.interval`: the timer's period, and 3
/// times it is how long `run` waits before it says checks stopped.
pub const MIN_CHECK_INTERVAL: Duration = Duration::from_secs(10);
pub const MAX_CHECK_INTERVAL: Duration = Duration::from_secs(86400);

/// The most rotated alerts log files kept.
const MAX_ALERTS_KEEP: u32 = 1000;

/// The longest duration accepted. Durations are added to and subtracted
/// from the current time; far beyond this, that arithmetic overflows (a
/// `keep_samples = "100000000000d"` made `check` panic).
const MAX_DURATION: Duration = Duration::from_secs(1000 * 366 * 86400);

/// The longest interval, timeout or step `run` accepts: the loops double
/// them, add them to the clock and scale them by the jitter, and a value
/// humantime accepts ("300000000000years") overflowed that arithmetic and
/// panicked: exit 101, which systemd restarts in a loop, where 78 stops it.
/// Only `run` applies it (`Config::validate_for_run`): `check` and `backup`
/// do not read these keys, and keep accepting up to `MAX_DURATION`.
const MAX_RUN_DURATION: Duration = Duration::from_secs(100 * 31_557_600);

/// A humantime duration (`30s`, `5m`, `30d`), at most `MAX_DURATION`.
pub(super) fn parse_duration(s: &str) -> Result<Duration, String> {
    let d = humantime::parse_duration(s).map_err(|e| {
        format!("invalid duration {s:?} ({e}): use e.g. \"30s\", \"5m\", \"2h\", \"30d\"")
    })?;
    if d > MAX_DURATION {
        return Err(format!("duration {s:?} is too long: at most 1000 years"));
    }
    Ok(d)
}

impl Config {
    /// Checks what types alone cannot, section by section.
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        self.validate_check()?;
        self.validate_paths()?;
        self.validate_service()?;
        self.validate_alerts()?;
        self.validate_backup()?;
        self.validate_orchestrator()?;
        self.validate_sensors()?;
        self.validate_actions()?;
        self.validate_notify()?;
        self.validate_ai_section()?;
        self.validate_watcher()?;
        Ok(())
    }

    /// `check.interval` and `[heartbeat]`.
    fn validate_watcher(&self) -> Result<(), ConfigError> {
        let i = self.check.interval;
        if !(MIN_CHECK_INTERVAL..=MAX_CHECK_INTERVAL).contains(&i) {
            return Err(self.err(format_args!(
                "check.interval = {}: expected between 10s and 1d (the check timer's period)",
                humantime::format_duration(i)
            )));
        }
        if let Some(h) = &self.heartbeat {
            // Never echo the URL: it is the secret that lets anyone ping.
            if check_http_url(&h.url).is_err() || reqwest::Url::parse(&h.url).is_err() {
                return Err(self.err("heartbeat.url must be an http:// or https:// URL"));
            }
            if h.timeout.is_zero() || h.timeout > Duration::from_secs(60) {
                return Err(self.err("heartbeat.timeout must be between 1ms and 60s"));
            }
        }
        Ok(())
    }

    /// `[check]`: thresholds, confirmation, probe names, the API probe.
    fn validate_check(&self) -> Result<(), ConfigError> {
        for (name, t) in [
            ("cpu", self.check.thresholds.cpu),
            ("memory", self.check.thresholds.memory),
            ("disk", self.check.thresholds.disk),
            ("load_per_core", self.check.thresholds.load_per_core),
            ("database_mb", self.check.thresholds.database_mb),
            ("service_memory", self.check.thresholds.service_memory),
            ("restarts_per_hour", self.check.thresholds.restarts_per_hour),
        ] {
            if !(t.0.is_finite() && t.1.is_finite()) || t.0 < 0.0 || t.0 > t.1 {
                return Err(self.err(format_args!(
                    "check.thresholds.{name} = [{}, {}]: expected [warn, crit] with 0 <= warn <= crit",
                    t.0, t.1
                )));
            }
        }
        let ba = self.check.thresholds.backup_age;
        if ba.0 > ba.1 {
            return Err(self.err("check.thresholds.backup_age: warn must not exceed crit"));
        }
        let f = self.check.flap_thresholds;
        if !(0.0 < f.0 && f.0 < f.1 && f.1 <= 100.0) {
            return Err(self.err(format_args!(
                "check.flap_thresholds = [{}, {}]: want [low, high] percent with 0 < low < high <= 100",
                f.0, f.1
            )));
        }
        if self.check.confirm_after == 0 {
            return Err(self.err("check.confirm_after must be at least 1"));
        }
        for p in &self.check.probes {
            if !probe_names::ALL.contains(&p.as_str()) {
                return Err(self.err(format_args!(
                    "check.probes: unknown probe {p:?} (known: {})",
                    probe_names::ALL.join(", ")
                )));
            }
        }
        check_http_url(&self.check.api.url)
            .map_err(|e| self.err(format_args!("check.api.url: {e}")))?;
        if let Some(u) = &self.check.api.edge_url {
            check_http_url(u).map_err(|e| self.err(format_args!("check.api.edge_url: {e}")))?;
        }
        let p = &self.check.api.status_pointer;
        if !p.starts_with('/') {
            return Err(self.err(format_args!(
                "check.api.status_pointer {p:?} is not a JSON pointer: it starts with '/', like \"/status\""
            )));
        }
        if self
            .check
            .api
            .healthy_words
            .iter()
            .any(|w| w.trim().is_empty())
        {
            return Err(self.err("check.api.healthy_words: a word is empty"));
        }
        if self.check.api.timeout.is_zero() {
            return Err(self.err("check.api.timeout must be greater than 0"));
        }
        Ok(())
    }

    /// `[paths]`: no empty path.
    fn validate_paths(&self) -> Result<(), ConfigError> {
        for (key, path) in [
            ("paths.database", &self.paths.database),
            ("paths.backups", &self.paths.backups),
            ("paths.alerts_log", &self.paths.alerts_log),
            ("paths.state", &self.paths.state),
        ] {
            if path.as_os_str().is_empty() {
                return Err(self.err(format_args!(
                    "{key} is empty: give a path, or leave it out for the default"
                )));
            }
        }
        Ok(())
    }

    /// `[service]`: a unit name.
    fn validate_service(&self) -> Result<(), ConfigError> {
        if self.service.unit.is_empty()
            || self
                .service
                .unit
                .chars()
                .any(|c| c.is_whitespace() || c.is_control())
        {
            return Err(self.err(format_args!(
                "service.unit {:?} is not a unit name",
                self.service.unit
            )));
        }
        Ok(())
    }

    /// `[alerts]`: log size and rotation.
    fn validate_alerts(&self) -> Result<(), ConfigError> {
        if self.alerts.max_size.0 < 1024 {
            return Err(self.err("alerts.max_size must be at least 1KiB"));
        }
        // Readers and rotation look for every numbered file up to `keep`:
        // a huge count made each `alerts tail` and rotation take hours.
        if self.alerts.keep > MAX_ALERTS_KEEP {
            return Err(self.err(format_args!(
                "alerts.keep = {}: at most {MAX_ALERTS_KEEP} rotated files",
                self.alerts.keep
            )));
        }
        Ok(())
    }

    /// `[backup]`: retention and compression level.
    fn validate_backup(&self) -> Result<(), ConfigError> {
        if self.backup.keep_last == 0 {
            return Err(self.err(
                "backup.keep_last must be at least 1: grokmon never deletes the last backup",
            ));
        }
        if !(1..=22).contains(&self.backup.level) {
            return Err(self.err(format_args!(
                "backup.level = {}: expected 1..=22 (gzip uses 1..=9)",
                self.backup.level
            )));
        }
        // gzip has no level above 9: say so rather than silently use 9.
        if self.backup.compression == Compression::Gzip && self.backup.level > 9 {
            return Err(self.err(format_args!(
                "backup.level = {}: gzip levels are 1..=9 (zstd goes to 22)",
                self.backup.level
            )));
        }
        Ok(())
    }

    /// `[orchestrator]` and `[ai]` backoff lists, the listen address.
    fn validate_orchestrator(&self) -> Result<(), ConfigError> {
        if self.orchestrator.backoff.0.is_empty() {
            return Err(self.err("orchestrator.backoff must list at least one duration"));
        }
        if self.ai.backoff.0.is_empty() {
            return Err(self.err("ai.backoff must list at least one duration"));
        }
        if self
            .orchestrator
            .listen
            .parse::<std::net::SocketAddr>()
            .is_err()
        {
            return Err(self.err(format_args!(
                "orchestrator.listen = {:?}: expected ADDRESS:PORT, e.g. \"127.0.0.1:8000\"",
                self.orchestrator.listen
            )));
        }
        Ok(())
    }

    /// `[[sensor]]`: names, timing and what each kind needs.
    fn validate_sensors(&self) -> Result<(), ConfigError> {
        let mut names = HashSet::new();
        for s in &self.sensors {
            let what = format!("sensor {:?}", s.name);
            if !valid_name(&s.name) {
                return Err(self.err(format_args!(
                    "{what}: a sensor name uses only letters, digits, '_' and '-'"
                )));
            }
            if !names.insert(s.name.clone()) {
                return Err(self.err(format_args!("{what} is defined twice")));
            }
            if s.timeout.is_zero() {
                return Err(self.err(format_args!("{what}: timeout must be greater than 0")));
            }
            if s.interval < MIN_SENSOR_INTERVAL {
                return Err(self.err(format_args!(
                    "{what}: interval {} is below the minimum of 100ms (a command sensor would start a process every {0})",
                    humantime::format_duration(s.interval)
                )));
            }
            let need = |ok: bool, key: &str| {
                if ok {
                    Ok(())
                } else {
                    Err(self.err(format_args!("{what}: kind {:?} needs `{key}`", s.kind)))
                }
            };
            match s.kind {
                SensorKind::Command => need(
                    s.command.as_ref().is_some_and(|c| !c.is_empty()),
                    "command = [argv]",
                )?,
                SensorKind::Http => {
                    need(s.url.is_some(), "url")?;
                    need(s.json_pointer.is_some(), "json_pointer")?;
                    check_http_url(s.url.as_deref().unwrap_or_default())
                        .map_err(|e| self.err(format_args!("{what}: url: {e}")))?;
                }
                SensorKind::File => need(s.path.is_some(), "path")?,
                SensorKind::Sim => {}
            }
            if let Some(p) = &s.json_pointer
                && !(p.is_empty() || p.starts_with('/'))
            {
                return Err(self.err(format_args!(
                    "{what}: json_pointer {p:?} must start with '/'"
                )));
            }
            if s.reconnect.as_ref().is_some_and(|c| c.is_empty()) {
                return Err(self.err(format_args!("{what}: reconnect must be a non-empty argv")));
            }
        }
        Ok(())
    }

    /// `[[action]]`: names and argv.
    fn validate_actions(&self) -> Result<(), ConfigError> {
        let mut names = HashSet::new();
        for a in &self.actions {
            let what = format!("action {:?}", a.name);
            if !valid_name(&a.name) {
                return Err(self.err(format_args!(
                    "{what}: an action name uses only letters, digits, '_' and '-'"
                )));
            }
            if !names.insert(a.name.clone()) {
                return Err(self.err(format_args!("{what} is defined twice")));
            }
            if a.command.is_empty() {
                return Err(self.err(format_args!("{what}: command must be a non-empty argv")));
            }
        }
        Ok(())
    }

    /// `[[notify]]`: webhook URLs (never echoed: they may hold a token).
    fn validate_notify(&self) -> Result<(), ConfigError> {
        for (i, n) in self.notify.iter().enumerate() {
            // Never echo the URL: it may hold a token.
            if check_http_url(&n.url).is_err() {
                return Err(self.err(format_args!(
                    "notify #{}: url must be an http:// or https:// URL",
                    i + 1
                )));
            }
            if n.format == NotifyFormat::Ntfy
                && let Err(e) = ntfy_topic(&n.url)
            {
                return Err(self.err(format_args!("notify #{}: {e}", i + 1)));
            }
        }
        Ok(())
    }

    /// `[ai]`: the key source and base URL.
    fn validate_ai_section(&self) -> Result<(), ConfigError> {
        if self.ai.enabled && self.ai.api_key_env.is_some() && self.ai.api_key_file.is_some() {
            return Err(self.err("ai: set api_key_env or api_key_file, not both"));
        }
        if self.ai.enabled {
            check_http_url(&self.ai.base_url)
                .map_err(|e| self.err(format_args!("ai.base_url: {e}")))?;
        }
        Ok(())
    }

    /// Durations `run` cannot count with are a configuration that cannot
    /// work (78). Called by `run` only.
    pub fn validate_for_run(&self) -> Result<(), ConfigError> {
        let mut all: Vec<(String, Duration)> = vec![(
            "orchestrator.shutdown_timeout".into(),
            self.orchestrator.shutdown_timeout,
        )];
        all.extend(
            self.orchestrator
                .backoff
                .0
                .iter()
                .map(|d| ("orchestrator.backoff".into(), *d)),
        );
        for s in &self.sensors {
            all.push((format!("sensor {:?}: interval", s.name), s.interval));
            all.push((format!("sensor {:?}: timeout", s.name), s.timeout));
        }
        if self.ai.enabled {
            all.push(("ai.interval".into(), self.ai.interval));
            all.push(("ai.timeout".into(), self.ai.timeout));
            all.extend(self.ai.backoff.0.iter().map(|d| ("ai.backoff".into(), *d)));
            for a in &self.actions {
                all.push((format!("action {:?}: timeout", a.name), a.timeout));
            }
        }
        match all.into_iter().find(|(_, d)| *d > MAX_RUN_DURATION) {
            Some((what, d)) => Err(ConfigError(format!(
                "config {}: {what} = {} is longer than {}; use a shorter duration",
                self.source,
                humantime::format_duration(d),
                humantime::format_duration(MAX_RUN_DURATION)
            ))),
            None => Ok(()),
        }
    }
}

/// Names that end up in log sources and metric labels.
pub fn valid_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// An ntfy topic URL split into the URL and its topic (the last path
/// segment). The error never quotes the URL: it may hold a token.
pub fn ntfy_topic(url: &str) -> Result<(reqwest::Url, String), String> {
    let u = reqwest::Url::parse(url).map_err(|_| "not a valid URL".to_string())?;
    let topic = u
        .path_segments()
        .and_then(|mut s| s.next_back())
        .filter(|t| !t.is_empty())
        .map(str::to_string)
        .ok_or_else(|| "an ntfy URL must end with the topic (https://HOST/TOPIC)".to_string())?;
    Ok((u, topic))
}

fn check_http_url(u: &str) -> Result<(), String> {
    if u.starts_with("http://") || u.starts_with("https://") {
        Ok(())
    } else {
        Err("expected an http:// or https:// URL".into())
    }
}
