//! Integration tests for the `ops` area.
