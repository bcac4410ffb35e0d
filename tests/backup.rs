//! Integration tests for the `backup` area.
