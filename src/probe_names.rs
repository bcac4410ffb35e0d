//! Leaf: the probes' names, said once. A name is the probe's entry in
//! `check.probes`, its observations' `probe`, its alert source and JSON key.
//! `config` validates `check.probes` against `ALL`; `probe::REGISTRY` keys
//! each probe by one of these (a test keeps its order equal to `ALL`).
//! Imports nothing.

pub const API: &str = "api";
pub const CPU: &str = "cpu";
pub const MEMORY: &str = "memory";
pub const DISK: &str = "disk";
pub const DATABASE: &str = "database";
pub const SERVICE: &str = "service";
pub const UNITS: &str = "units";
pub const BACKUPS: &str = "backups";
pub const FORECAST: &str = "forecast";

/// Every probe `check` knows, in the order it reports them (the default of
/// `check.probes`).
pub const ALL: &[&str] = &[
    API, CPU, MEMORY, DISK, DATABASE, SERVICE, UNITS, BACKUPS, FORECAST,
];
