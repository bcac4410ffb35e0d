//! Integration tests: one binary, a module per command, sharing `util`.

mod util;

mod ai;
mod alerts;
mod backup;
mod check;
mod dbus;
mod escape;
mod faults;
mod ops;
mod package;
mod page;
mod regression;
mod run;
mod status;
mod systemd_e2e;
mod units_install;
mod watcher;
mod world;
