//! Integration tests: one binary, a module per command, sharing `util`.

mod util;

mod ai;
mod alerts;
mod backup;
mod check;
mod ops;
mod page;
mod regression;
mod run;
mod status;
mod world;
