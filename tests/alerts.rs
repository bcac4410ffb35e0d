//! Integration tests for the `alerts` area.
