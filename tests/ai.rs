//! Integration tests for the `ai` area.
