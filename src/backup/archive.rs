//! The backup file format and checks of a database copy: a backup is the raw
//! SQLite database, compressed whole (`zstd -d` or `gunzip` gives a valid
//! `.db`). The format is recognised by its magic bytes, not its name, so a
//! renamed file still verifies. Also: the integrity check and the row counts
//! used by `create`, `verify` and `restore`.

use std::fs::File;
use std::io::{self, BufReader, Read, Write};
use std::path::Path;

use rusqlite::{Connection, OpenFlags};

use crate::config::Compression;

const ZSTD_MAGIC: [u8; 4] = [0x28, 0xB5, 0x2F, 0xFD];
const GZIP_MAGIC: [u8; 2] = [0x1F, 0x8B];
const SQLITE_MAGIC: &[u8; 16] = b"SQLite format 3\0";

/// Buffer size for streaming: large enough that syscalls do not dominate.
const BUF: usize = 1 << 20;

/// The compression of a file, from its first bytes; `None` when it is
/// neither zstd, gzip nor an SQLite database.
pub fn detect(path: &Path) -> io::Result<Option<Compression>> {
    let mut head = [0u8; 16];
    let mut f = File::open(path)?;
    let mut n = 0;
    while n < head.len() {
        match f.read(&mut head[n..])? {
            0 => break,
            k => n += k,
        }
    }
    let head = &head[..n];
    Ok(if head.starts_with(&ZSTD_MAGIC) {
        Some(Compression::Zstd)
    } else if head.starts_with(&GZIP_MAGIC) {
        Some(Compression::Gzip)
    } else if head == SQLITE_MAGIC {
        Some(Compression::None)
    } else {
        None
    })
}

/// The compression's name, as in the configuration.
pub fn name(c: Compression) -> &'static str {
    match c {
        Compression::Zstd => "zstd",
        Compression::Gzip => "gzip",
        Compression::None => "none",
    }
}

/// A reader of the uncompressed database inside a backup file.
pub fn open_reader(path: &Path, c: Compression) -> io::Result<Box<dyn Read>> {
    let f = BufReader::with_capacity(BUF, File::open(path)?);
    Ok(match c {
        Compression::Zstd => Box::new(zstd::stream::read::Decoder::with_buffer(f)?),
        Compression::Gzip => Box::new(flate2::bufread::MultiGzDecoder::new(f)),
        Compression::None => Box::new(f),
    })
}

/// Streams `src` through the compressor into `dst`; returns the bytes read.
/// `on_progress` gets the running count of uncompressed bytes.
pub fn compress(
    src: &mut dyn Read,
    dst: &mut File,
    c: Compression,
    level: i32,
    size_hint: Option<u64>,
    on_progress: &mut dyn FnMut(u64),
) -> io::Result<u64> {
    let out = io::BufWriter::with_capacity(BUF, dst);
    match c {
        Compression::Zstd => {
            let mut enc = zstd::stream::write::Encoder::new(out, level)?;
            // The frame then records the database size (for `zstd -l`).
            enc.set_pledged_src_size(size_hint)?;
            enc.include_contentsize(size_hint.is_some())?;
            let n = pump(src, &mut enc, on_progress)?;
            enc.finish()?.flush()?;
            Ok(n)
        }
        Compression::Gzip => {
            let level = level.clamp(1, 9) as u32;
            let mut enc = flate2::write::GzEncoder::new(out, flate2::Compression::new(level));
            let n = pump(src, &mut enc, on_progress)?;
            enc.finish()?.flush()?;
            Ok(n)
        }
        Compression::None => {
            let mut out = out;
            let n = pump(src, &mut out, on_progress)?;
            out.flush()?;
            Ok(n)
        }
    }
}

fn pump(
    src: &mut dyn Read,
    dst: &mut dyn Write,
    on_progress: &mut dyn FnMut(u64),
) -> io::Result<u64> {
    let mut buf = vec![0u8; BUF];
    let mut total = 0u64;
    loop {
        let n = match src.read(&mut buf) {
            Ok(0) => return Ok(total),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        dst.write_all(&buf[..n])?;
        total += n as u64;
        on_progress(total);
    }
}

/// Decompresses a backup into `dst`; returns the database size in bytes.
/// Checks that what comes out starts like an SQLite database.
pub fn decompress(path: &Path, c: Compression, dst: &mut File) -> io::Result<u64> {
    let mut r = open_reader(path, c)?;
    let mut out = io::BufWriter::with_capacity(BUF, dst);
    let n = pump(&mut r, &mut out, &mut |_| {})?;
    out.flush()?;
    Ok(n)
}

/// The database size recorded in an SQLite header (page size × page count),
/// read from the start of a possibly compressed backup. `None` when the
/// header cannot be read: callers show it as unknown.
pub fn db_size(path: &Path, c: Compression) -> Option<u64> {
    let mut r = open_reader(path, c).ok()?;
    let mut h = [0u8; 100];
    r.read_exact(&mut h).ok()?;
    if &h[..16] != SQLITE_MAGIC {
        return None;
    }
    let ps = u16::from_be_bytes([h[16], h[17]]);
    let page_size = if ps == 1 { 65536 } else { u64::from(ps) };
    let pages = u64::from(u32::from_be_bytes([h[28], h[29], h[30], h[31]]));
    Some(page_size * pages)
}

/// Opens a private database copy (read-write, so a copy in WAL mode opens
/// too; nothing is written by the checks).
pub fn open_copy(path: &Path) -> rusqlite::Result<Connection> {
    Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
}

/// `PRAGMA integrity_check`: `Ok(())` for "ok", else the first problems found.
pub fn integrity_check(conn: &Connection) -> Result<(), CheckError> {
    let mut stmt = conn
        .prepare("PRAGMA integrity_check(20)")
        .map_err(CheckError::Sqlite)?;
    let rows: Vec<String> = stmt
        .query_map([], |r| r.get::<_, String>(0))
        .and_then(|rows| rows.collect())
        .map_err(CheckError::Sqlite)?;
    if rows.len() == 1 && rows[0] == "ok" {
        Ok(())
    } else {
        Err(CheckError::Failed(rows))
    }
}

/// Why a database copy is not good.
#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    #[error("integrity check failed: {}", crate::text::sanitize(&.0.iter().take(3).cloned().collect::<Vec<_>>().join("; ")))]
    Failed(Vec<String>),
    /// In the message, not `source()`: a `rusqlite::Error`'s own source
    /// repeats it (see `state::StateError`).
    #[error("not a readable SQLite database: {0}")]
    Sqlite(rusqlite::Error),
}

/// Row counts of every user table, by name.
pub fn row_counts(conn: &Connection) -> rusqlite::Result<Vec<(String, u64)>> {
    let mut stmt = conn.prepare(
        "SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name",
    )?;
    let names: Vec<String> = stmt
        .query_map([], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    let mut out = Vec::with_capacity(names.len());
    for name in names {
        let sql = format!("SELECT count(*) FROM \"{}\"", name.replace('"', "\"\""));
        let n: i64 = conn.query_row(&sql, [], |r| r.get(0))?;
        out.push((name, n.max(0) as u64));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn make_db(dir: &Path) -> std::path::PathBuf {
        let p = dir.join("a.db");
        let c = Connection::open(&p).unwrap();
        c.execute_batch(
            "CREATE TABLE \"we\"\"ird\" (x); INSERT INTO \"we\"\"ird\" VALUES (1), (2);
             CREATE TABLE readings (v); INSERT INTO readings VALUES (3);",
        )
        .unwrap();
        p
    }

    #[test]
    fn every_compression_round_trips_and_is_detected_by_magic() {
        let dir = tempfile::tempdir().unwrap();
        let db = make_db(dir.path());
        let raw = std::fs::read(&db).unwrap();
        assert_eq!(detect(&db).unwrap(), Some(Compression::None));
        for c in [Compression::Zstd, Compression::Gzip, Compression::None] {
            let packed = dir.path().join(format!("packed{c:?}"));
            let mut f = File::create(&packed).unwrap();
            let mut seen = 0;
            let n = compress(
                &mut File::open(&db).unwrap(),
                &mut f,
                c,
                3,
                Some(raw.len() as u64),
                &mut |k| seen = k,
            )
            .unwrap();
            assert_eq!((n, seen), (raw.len() as u64, raw.len() as u64));
            assert_eq!(detect(&packed).unwrap(), Some(c));
            assert_eq!(db_size(&packed, c), Some(raw.len() as u64));
            let out = dir.path().join(format!("out{c:?}"));
            let got = decompress(&packed, c, &mut File::create(&out).unwrap()).unwrap();
            assert_eq!(got, raw.len() as u64);
            assert_eq!(std::fs::read(&out).unwrap(), raw);
        }
        let junk = dir.path().join("junk");
        std::fs::write(&junk, b"hello").unwrap();
        assert_eq!(detect(&junk).unwrap(), None);
    }

    #[test]
    fn integrity_and_row_counts() {
        let dir = tempfile::tempdir().unwrap();
        let db = make_db(dir.path());
        let c = open_copy(&db).unwrap();
        integrity_check(&c).unwrap();
        assert_eq!(
            row_counts(&c).unwrap(),
            vec![("readings".to_string(), 1), ("we\"ird".to_string(), 2)]
        );
    }
}
