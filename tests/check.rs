//! Integration tests for `grokmon check`.
