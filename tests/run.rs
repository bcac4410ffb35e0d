//! Integration tests for the `run` area.
