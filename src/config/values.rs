//! The value types of the configuration that are more than a TOML scalar:
//! threshold pairs, duration lists, byte sizes, and their parsers.

use std::time::Duration;

use serde::{Deserialize, Deserializer};

use super::validate::parse_duration;

/// A `[warn, crit]` pair. A value at or above `warn` is WARNING, at or above
/// `crit` CRITICAL.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
pub struct Thresholds(pub f64, pub f64);

impl Thresholds {
    pub fn warn(&self) -> f64 {
        self.0
    }
    pub fn crit(&self) -> f64 {
        self.1
    }
}

/// A `[warn, crit]` pair of durations.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DurationThresholds(pub Duration, pub Duration);

impl<'de> Deserialize<'de> for DurationThresholds {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let [w, c]: [String; 2] = Deserialize::deserialize(d)?;
        let parse = |s: &str| parse_duration(s).map_err(serde::de::Error::custom);
        Ok(DurationThresholds(parse(&w)?, parse(&c)?))
    }
}

/// A list of humantime durations, e.g. `["10s", "20s", "30s"]`.
#[derive(Debug, Clone, PartialEq)]
pub struct DurationList(pub Vec<Duration>);

impl<'de> Deserialize<'de> for DurationList {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v: Vec<String> = Deserialize::deserialize(d)?;
        v.iter()
            .map(|s| parse_duration(s).map_err(serde::de::Error::custom))
            .collect::<Result<Vec<_>, _>>()
            .map(DurationList)
    }
}

/// A size in bytes: an integer, or a string such as `"10MiB"`, `"512KB"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ByteSize(pub u64);

impl<'de> Deserialize<'de> for ByteSize {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            N(u64),
            S(String),
        }
        match Raw::deserialize(d)? {
            Raw::N(n) => Ok(ByteSize(n)),
            Raw::S(s) => parse_size(&s)
                .map(ByteSize)
                .map_err(serde::de::Error::custom),
        }
    }
}

/// Parses `10MiB`, `10 MB`, `512k`, `1024`.
pub fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: f64 = num
        .parse()
        .map_err(|_| format!("invalid size {s:?}: expected e.g. \"10MiB\""))?;
    let mult: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" => 1000,
        "kib" => 1 << 10,
        "m" | "mb" => 1_000_000,
        "mib" => 1 << 20,
        "g" | "gb" => 1_000_000_000,
        "gib" => 1 << 30,
        other => return Err(format!("invalid size unit {other:?} in {s:?}")),
    };
    Ok((n * mult as f64) as u64)
}

pub(super) fn de_duration<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    let s = String::deserialize(d).map_err(|e| {
        serde::de::Error::custom(format!(
            "{}: a duration is a string such as \"30s\", \"5m\", \"30d\"",
            e.to_string().trim_end()
        ))
    })?;
    parse_duration(&s).map_err(serde::de::Error::custom)
}
