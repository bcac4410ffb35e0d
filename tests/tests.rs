//! Integration tests: one binary, a module per command, sharing `util`.

mod util;

mod ai;
mod alerts;
mod backup;
mod check;
mod ops;
mod page;
mod qa;
mod run;
