//! The backup naming scheme, shared by `backup` (which writes and prunes) and
//! `check` (which judges freshness): `grokmon-YYYYMMDDTHHMMSSZ.db.zst` in UTC,
//! `.db.gz` or `.db` for the other compressions. Only names that match exactly
//! are backups; anything else in the directory is foreign and left alone.

use std::path::{Path, PathBuf};

use chrono::{DateTime, NaiveDateTime, Utc};

use crate::config::Compression;

const PREFIX: &str = "grokmon-";
const STAMP: &str = "%Y%m%dT%H%M%SZ";

/// File name suffix for a compression.
pub fn suffix(c: Compression) -> &'static str {
    match c {
        Compression::Zstd => ".db.zst",
        Compression::Gzip => ".db.gz",
        Compression::None => ".db",
    }
}

/// The file name of a backup taken at `t`.
pub fn file_name(t: DateTime<Utc>, c: Compression) -> String {
    format!("{PREFIX}{}{}", t.format(STAMP), suffix(c))
}

/// Parses a backup file name; `None` when it is not exactly ours.
pub fn parse(name: &str) -> Option<(DateTime<Utc>, Compression)> {
    let rest = name.strip_prefix(PREFIX)?;
    if rest.len() < 16 || !rest.is_char_boundary(16) {
        return None;
    }
    let (stamp, sfx) = rest.split_at(16);
    let c = [Compression::Zstd, Compression::Gzip, Compression::None]
        .into_iter()
        .find(|c| suffix(*c) == sfx)?;
    let t = NaiveDateTime::parse_from_str(stamp, STAMP).ok()?.and_utc();
    // Round-trip guards against lenient parsing (e.g. missing zero padding).
    (file_name(t, c) == name).then_some((t, c))
}

/// A backup found on disk.
#[derive(Debug, Clone, PartialEq)]
pub struct Found {
    pub path: PathBuf,
    pub time: DateTime<Utc>,
    pub compression: Compression,
}

/// The entries of `dir`; `None` when it does not exist (no backups yet).
fn read_dir_if_any(dir: &Path) -> std::io::Result<Option<std::fs::ReadDir>> {
    match std::fs::read_dir(dir) {
        Ok(rd) => Ok(Some(rd)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// Backups in `dir`, newest first. A missing directory is an empty list.
pub fn list(dir: &Path) -> std::io::Result<Vec<Found>> {
    let Some(rd) = read_dir_if_any(dir)? else {
        return Ok(Vec::new());
    };
    let mut v = Vec::new();
    for entry in rd {
        let entry = entry?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if let Some((time, compression)) = parse(name)
            && entry.file_type().is_ok_and(|t| t.is_file())
        {
            v.push(Found {
                path: entry.path(),
                time,
                compression,
            });
        }
    }
    v.sort_by_key(|f| std::cmp::Reverse(f.time));
    Ok(v)
}

/// Whether a file name that is not one of ours looks like a database backup
/// (another tool's, like the original scripts' `grokmon_backup_*.db.gz`).
pub fn looks_like_backup(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    parse(name).is_none()
        && !n.starts_with('.')
        && (n.contains(".db")
            || n.contains(".sqlite")
            || [".bak", ".gz", ".zst", ".xz", ".bz2", ".dump", ".sql"]
                .iter()
                .any(|s| n.ends_with(s)))
}

/// Regular files in `dir` that look like backups but do not follow our
/// naming, sorted by name, newest-looking (last) first. A missing directory
/// is an empty list.
pub fn foreign(dir: &Path) -> std::io::Result<Vec<String>> {
    let Some(rd) = read_dir_if_any(dir)? else {
        return Ok(Vec::new());
    };
    let mut v = Vec::new();
    for entry in rd {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if looks_like_backup(&name) && entry.file_type().is_ok_and(|t| t.is_file()) {
            v.push(name);
        }
    }
    v.sort_by(|a, b| b.cmp(a));
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_foreign_names_do_not_parse() {
        let t: DateTime<Utc> = "2026-11-28T03:04:05Z".parse().unwrap();
        assert_eq!(
            file_name(t, Compression::Zstd),
            "grokmon-20261128T030405Z.db.zst"
        );
        assert_eq!(
            parse("grokmon-20261128T030405Z.db.zst"),
            Some((t, Compression::Zstd))
        );
        assert_eq!(
            parse("grokmon-20261128T030405Z.db.gz"),
            Some((t, Compression::Gzip))
        );
        assert_eq!(
            parse("grokmon-20261128T030405Z.db"),
            Some((t, Compression::None))
        );
        for foreign in [
            "grokmon-20261128T030405Z.db.zst.tmp",
            "grokmon-20261128T030405Z.db.bak",
            "grokmon-20261328T030405Z.db",
            "grokmon-2026112T030405Z.db.zst",
            "xgrokmon-20261128T030405Z.db",
            "grokmon-20261128T030405Z",
            "grokmon.db",
            "grokmon-20261128T0304é5Z.db",
            "notes.txt",
        ] {
            assert_eq!(parse(foreign), None, "{foreign}");
        }
    }

    #[test]
    fn other_tools_backups_are_recognized() {
        for other in [
            "grokmon_backup_20261101_030000.db.gz",
            "grokmon.db.bak",
            "app.sqlite3",
            "dump.sql",
        ] {
            assert!(looks_like_backup(other), "{other}");
        }
        for not in [
            "grokmon-20261128T030405Z.db.zst",
            "notes.txt",
            ".grokmon-tmp-1.db",
            "README",
        ] {
            assert!(!looks_like_backup(not), "{not}");
        }
    }
}
