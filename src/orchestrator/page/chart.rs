//! The status page's 24 h charts: the readings of `grokmon.db` grouped into
//! 5-minute buckets (min, max, mean, stale count), drawn as inline SVG on the
//! server.
//!
//! A day of 1 s readings for 10 sensors is 864,000 rows, far too many to read
//! on every render, so `History` keeps the buckets between renders: the first
//! update has SQLite aggregate the day per sensor, and each later one reads
//! only the rows added since (`rowid` above the last one seen:
//! the table has no INTEGER PRIMARY KEY, so SQLite gives each new row the
//! largest rowid plus one). When the file is replaced (a restored backup) or
//! its rowids went backwards (emptied, vacuumed), it starts over from the
//! `ts` index.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::time::Duration;

use rusqlite::{Connection, OpenFlags, OptionalExtension as _};

/// One bucket's width.
pub const BUCKET_MS: i64 = 300_000;
/// Buckets in a chart: 24 h.
pub const BUCKETS: i64 = 288;
/// Chart height in SVG units; x is the bucket's index (0..BUCKETS-1).
const HEIGHT: f64 = 100.0;

/// The readings of one bucket: fresh ones aggregated, stale ones (the last
/// known value, stored while reads failed) only counted.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Bucket {
    pub n: u32,
    pub min: f64,
    pub max: f64,
    pub sum: f64,
    pub stale: u32,
}

impl Bucket {
    pub fn add(&mut self, v: f64, stale: bool) {
        if stale {
            self.stale += 1;
        } else if v.is_finite() {
            if self.n == 0 {
                (self.min, self.max) = (v, v);
            } else {
                self.min = self.min.min(v);
                self.max = self.max.max(v);
            }
            self.sum += v;
            self.n += 1;
        }
    }

    fn mean(&self) -> f64 {
        self.sum / f64::from(self.n)
    }
}

/// The last day of one sensor: buckets by index (`ts / BUCKET_MS`), and the
/// newest fresh reading (unix ms, value).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Series {
    pub buckets: BTreeMap<i64, Bucket>,
    pub last: Option<(i64, f64)>,
}

impl Series {
    pub fn add(&mut self, ts: i64, v: f64, stale: bool) {
        self.buckets
            .entry(ts.div_euclid(BUCKET_MS))
            .or_default()
            .add(v, stale);
        if !stale && v.is_finite() && self.last.is_none_or(|(t, _)| ts >= t) {
            self.last = Some((ts, v));
        }
    }

    fn prune(&mut self, first: i64) {
        self.buckets = self.buckets.split_off(&first);
        if self.last.is_some_and(|(t, _)| t < first * BUCKET_MS) {
            self.last = None;
        }
    }
}

/// The first bucket of the chart ending at `now_ms`.
pub fn first_bucket(now_ms: i64) -> i64 {
    now_ms.div_euclid(BUCKET_MS) - (BUCKETS - 1)
}

/// The buckets of every configured sensor, kept between renders.
#[derive(Default)]
pub struct History {
    /// The open read-only connection and the (device, inode) it opened.
    conn: Option<(Connection, (u64, u64))>,
    /// The largest rowid read; 0 before the first read.
    last_rowid: i64,
    series: HashMap<String, Series>,
}

impl History {
    pub fn series(&self, name: &str) -> Option<&Series> {
        self.series.get(name)
    }

    fn reset(&mut self) {
        self.last_rowid = 0;
        self.series.clear();
    }

    /// Reads the rows added since the last update (all of the last day the
    /// first time) for the sensors in `names`. `Ok(false)`: no database yet.
    pub fn update(&mut self, path: &Path, names: &[String], now_ms: i64) -> Result<bool, String> {
        let id = match std::fs::metadata(path) {
            Ok(m) => (m.dev(), m.ino()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                self.conn = None;
                self.reset();
                return Ok(false);
            }
            Err(e) => return Err(e.to_string()),
        };
        if self.conn.as_ref().is_none_or(|(_, i)| *i != id) {
            self.conn = None;
            self.reset();
            let c = Connection::open_with_flags(
                path,
                OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
            )
            .map_err(|e| e.to_string())?;
            c.busy_timeout(Duration::from_secs(2))
                .map_err(|e| e.to_string())?;
            self.conn = Some((c, id));
        }
        for n in names {
            self.series.entry(n.clone()).or_default();
        }
        let first = first_bucket(now_ms);
        let res = self.read_new(first);
        if res.is_err() {
            // A failed read may have been partial: start over next time.
            self.conn = None;
            self.reset();
        }
        for s in self.series.values_mut() {
            s.prune(first);
        }
        res.map(|()| true).map_err(|e| e.to_string())
    }

    fn read_new(&mut self, first: i64) -> rusqlite::Result<()> {
        let History {
            conn,
            last_rowid,
            series,
        } = self;
        let Some((c, _)) = conn else {
            return Ok(());
        };
        // One read transaction: the max rowid and the rows are one snapshot.
        let tx = c.unchecked_transaction()?;
        let max: i64 = tx.query_row("SELECT coalesce(max(rowid), 0) FROM readings", [], |r| {
            r.get(0)
        })?;
        if max < *last_rowid {
            // Emptied or vacuumed: read the day again.
            *last_rowid = 0;
            series.values_mut().for_each(|s| *s = Series::default());
        }
        let since = first * BUCKET_MS;
        if *last_rowid == 0 {
            // The whole day: aggregated by SQLite, per sensor on its
            // (sensor, ts) index, so that 864,000 rows never cross into Rust.
            let mut agg = tx.prepare(
                "SELECT ts / ?3, count(*) FILTER (WHERE stale = 0),
                        min(value) FILTER (WHERE stale = 0), max(value) FILTER (WHERE stale = 0),
                        total(value) FILTER (WHERE stale = 0), count(*) FILTER (WHERE stale != 0)
                 FROM readings WHERE sensor = ?1 AND ts >= ?2 GROUP BY 1",
            )?;
            let mut newest = tx.prepare(
                "SELECT ts, value FROM readings WHERE sensor = ?1 AND ts >= ?2 AND stale = 0
                 ORDER BY ts DESC LIMIT 1",
            )?;
            for (name, s) in series.iter_mut() {
                let mut rows = agg.query(rusqlite::params![name, since, BUCKET_MS])?;
                while let Some(r) = rows.next()? {
                    let b = Bucket {
                        n: r.get(1)?,
                        min: r.get::<_, Option<f64>>(2)?.unwrap_or_default(),
                        max: r.get::<_, Option<f64>>(3)?.unwrap_or_default(),
                        sum: r.get(4)?,
                        stale: r.get(5)?,
                    };
                    s.buckets.insert(r.get(0)?, b);
                }
                s.last = newest
                    .query_row(rusqlite::params![name, since], |r| {
                        Ok((r.get(0)?, r.get(1)?))
                    })
                    .optional()?;
            }
        } else {
            let mut st =
                tx.prepare("SELECT sensor, ts, value, stale FROM readings WHERE rowid > ?1")?;
            let mut rows = st.query([*last_rowid])?;
            while let Some(r) = rows.next()? {
                let Ok(name) = r.get_ref(0)?.as_str() else {
                    continue;
                };
                let Some(s) = series.get_mut(name) else {
                    continue;
                };
                let ts: i64 = r.get(1)?;
                if ts < since {
                    continue;
                }
                let v: f64 = r.get(2)?;
                let stale: i64 = r.get(3)?;
                s.add(ts, v, stale != 0);
            }
        }
        tx.finish()?;
        *last_rowid = max;
        Ok(())
    }
}

/// A chart, ready for the page.
#[derive(Debug, Clone, PartialEq)]
pub struct Chart {
    /// The `<svg>` element's content (paths); empty without fresh readings.
    pub paths: String,
    pub min: Option<f64>,
    pub max: Option<f64>,
    /// Buckets holding only stale readings, and buckets with none at all
    /// (up to the current one).
    pub stale_buckets: u32,
    pub empty_buckets: u32,
    pub readings: u64,
}

/// y of `v` on a chart from `lo` to `hi`, with room for the stale marks at
/// the bottom and the strokes at the top.
fn y(v: f64, lo: f64, hi: f64) -> f64 {
    let f = if hi > lo { (v - lo) / (hi - lo) } else { 0.5 };
    (HEIGHT - 8.0) - f * (HEIGHT - 16.0)
}

/// Draws `s` over the day ending at `now_ms` (pure). Consecutive fresh
/// buckets are joined when at most `max_gap` apart (a sensor read every
/// 30 min leaves empty buckets that are not a gap); anything further apart,
/// and buckets of only stale readings, break the line. Stale buckets are
/// marked along the bottom.
pub fn draw(s: &Series, now_ms: i64, max_gap: Duration) -> Chart {
    let first = first_bucket(now_ms);
    let gap = (max_gap.as_millis() as i64).div_euclid(BUCKET_MS).max(1);
    let fresh: Vec<(i64, &Bucket)> = s
        .buckets
        .range(first..=first + BUCKETS - 1)
        .filter(|(_, b)| b.n > 0)
        .map(|(i, b)| (*i - first, b))
        .collect();
    let lo = fresh.iter().map(|(_, b)| b.min).reduce(f64::min);
    let hi = fresh.iter().map(|(_, b)| b.max).reduce(f64::max);
    let readings = s
        .buckets
        .values()
        .map(|b| u64::from(b.n) + u64::from(b.stale))
        .sum();
    let now_idx = now_ms.div_euclid(BUCKET_MS) - first;
    let stale_buckets = s
        .buckets
        .range(first..=first + now_idx)
        .filter(|(_, b)| b.n == 0 && b.stale > 0)
        .count() as u32;
    // Missing: stretches without any reading longer than the allowed gap
    // (a sensor read every 30 min leaves empty buckets that are not missing).
    let empty_buckets = {
        let mut empty = 0;
        let mut prev = -1;
        for i in s
            .buckets
            .range(first..=first + now_idx)
            .map(|(i, _)| i - first)
        {
            if i - prev > gap {
                empty += i - prev - 1;
            }
            prev = i;
        }
        if now_idx - prev > gap {
            empty += now_idx - prev;
        }
        empty as u32
    };
    let mut chart = Chart {
        paths: String::new(),
        min: lo,
        max: hi,
        stale_buckets,
        empty_buckets,
        readings,
    };
    let (Some(lo), Some(hi)) = (lo, hi) else {
        chart.paths = stale_marks(s, first);
        return chart;
    };
    // Segments of joined buckets.
    let mut segments: Vec<&[(i64, &Bucket)]> = Vec::new();
    let mut start = 0;
    for k in 1..=fresh.len() {
        if k == fresh.len() || fresh[k].0 - fresh[k - 1].0 > gap {
            segments.push(&fresh[start..k]);
            start = k;
        }
    }
    let mut band = String::new();
    let mut line = String::new();
    for seg in &segments {
        let _ = write!(line, "M");
        for (x, b) in seg.iter() {
            let _ = write!(line, "{x} {:.0} ", y(b.mean(), lo, hi));
        }
        if seg.len() == 1 {
            // A lone point: a dot (round caps on a zero-length line).
            line.push_str("h0");
        }
        if seg.iter().any(|(_, b)| b.max > b.min) {
            let _ = write!(band, "M");
            for (x, b) in seg.iter() {
                let _ = write!(band, "{x} {:.0} ", y(b.max, lo, hi));
            }
            for (x, b) in seg.iter().rev() {
                let _ = write!(band, "{x} {:.0} ", y(b.min, lo, hi));
            }
            band.push('Z');
        }
    }
    let mut out = String::new();
    if !band.is_empty() {
        let _ = write!(out, r#"<path class="band" d="{}"/>"#, band.trim_end());
    }
    let _ = write!(out, r#"<path class="line" d="{}"/>"#, line.trim_end());
    out.push_str(&stale_marks(s, first));
    if let Some((t, v)) = s.last {
        let x = t.div_euclid(BUCKET_MS) - first;
        if (0..BUCKETS).contains(&x) {
            let _ = write!(out, r#"<path class="now" d="M{x} {:.0}h0"/>"#, y(v, lo, hi));
        }
    }
    chart.paths = out;
    chart
}

/// Runs of buckets holding only stale readings, as marks along the bottom.
fn stale_marks(s: &Series, first: i64) -> String {
    let mut d = String::new();
    let mut run: Option<(i64, i64)> = None;
    let flush = |d: &mut String, r: (i64, i64)| {
        // Half a bucket either side, so that one bucket is visible.
        let _ = write!(
            d,
            "M{:.1} {}H{:.1}",
            r.0 as f64 - 0.5,
            HEIGHT - 2.0,
            r.1 as f64 + 0.5
        );
    };
    for (i, b) in s.buckets.range(first..first + BUCKETS) {
        let x = i - first;
        if b.n == 0 && b.stale > 0 {
            run = match run {
                Some((a, z)) if z + 1 == x => Some((a, x)),
                Some(r) => {
                    flush(&mut d, r);
                    Some((x, x))
                }
                None => Some((x, x)),
            };
        }
    }
    if let Some(r) = run {
        flush(&mut d, r);
    }
    if d.is_empty() {
        d
    } else {
        format!(r#"<path class="stale" d="{d}"/>"#)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_764_000_000_000; // a multiple of BUCKET_MS

    #[test]
    fn buckets_aggregate_fresh_values_and_count_stale_ones() {
        let mut s = Series::default();
        s.add(NOW, 2.0, false);
        s.add(NOW + 1000, 4.0, false);
        s.add(NOW + 2000, 9.0, true);
        let b = s.buckets[&(NOW / BUCKET_MS)];
        assert_eq!(
            (b.n, b.min, b.max, b.mean(), b.stale),
            (2, 2.0, 4.0, 3.0, 1)
        );
        assert_eq!(s.last, Some((NOW + 1000, 4.0)));
    }

    #[test]
    fn a_gap_and_a_stale_stretch_break_the_line_and_are_counted() {
        let mut s = Series::default();
        let first = first_bucket(NOW);
        // Buckets 0..10 fresh, 10..20 missing, 20..30 stale, 30..288 fresh.
        for i in 0..BUCKETS {
            let ts = (first + i) * BUCKET_MS;
            match i {
                10..20 => {}
                20..30 => s.add(ts, 50.0, true),
                _ => s.add(ts, i as f64, false),
            }
        }
        let c = draw(&s, NOW, Duration::from_secs(60));
        assert_eq!((c.stale_buckets, c.empty_buckets), (10, 10));
        assert_eq!((c.min, c.max), (Some(0.0), Some(287.0)));
        // Two segments of the line: two moves.
        let line = c.paths.split(r#"class="line" d=""#).nth(1).unwrap();
        let line = &line[..line.find('"').unwrap()];
        assert_eq!(line.matches('M').count(), 2, "{line}");
        assert!(line.starts_with("M0 92 1 "), "{line}");
        assert!(
            c.paths
                .contains(r#"<path class="stale" d="M19.5 98H29.5"/>"#),
            "{}",
            c.paths
        );
        // The current value: a dot at the newest reading.
        assert!(
            c.paths.contains(r#"<path class="now" d="M287 8h0"/>"#),
            "{}",
            c.paths
        );
    }

    #[test]
    fn sparse_readings_are_joined_up_to_the_allowed_gap() {
        let mut s = Series::default();
        let first = first_bucket(NOW);
        for i in (0..BUCKETS).step_by(6) {
            s.add((first + i) * BUCKET_MS, 1.0 + (i % 12) as f64, false);
        }
        let joined = draw(&s, NOW, Duration::from_secs(3600));
        let split = draw(&s, NOW, Duration::from_secs(600));
        let moves = |c: &Chart| c.paths.matches('M').count();
        assert!(
            moves(&joined) < moves(&split),
            "{} / {}",
            joined.paths,
            split.paths
        );
        assert_eq!((joined.stale_buckets, joined.empty_buckets), (0, 0));
        assert_eq!(split.empty_buckets, 47 * 5 + 5);
    }

    #[test]
    fn no_readings_is_no_line_and_old_buckets_are_pruned() {
        let mut s = Series::default();
        s.add(NOW - 2 * 86_400_000, 5.0, false);
        s.prune(first_bucket(NOW));
        assert!(s.buckets.is_empty() && s.last.is_none());
        let c = draw(&s, NOW, Duration::from_secs(60));
        assert_eq!((c.paths.as_str(), c.min, c.readings), ("", None, 0));
        assert_eq!(c.empty_buckets, BUCKETS as u32);
    }

    fn db(dir: &Path) -> (std::path::PathBuf, Connection) {
        let p = dir.join("g.db");
        let c = Connection::open(&p).unwrap();
        c.execute_batch(
            "PRAGMA synchronous = OFF;
             CREATE TABLE readings (ts INTEGER NOT NULL, sensor TEXT NOT NULL, value REAL NOT NULL, unit TEXT, stale INTEGER NOT NULL DEFAULT 0);
             CREATE INDEX readings_sensor_ts ON readings (sensor, ts);
             CREATE INDEX readings_ts ON readings (ts);",
        )
        .unwrap();
        (p, c)
    }

    fn insert(c: &Connection, ts: i64, sensor: &str, v: f64) {
        c.execute(
            "INSERT INTO readings (ts, sensor, value) VALUES (?1, ?2, ?3)",
            rusqlite::params![ts, sensor, v],
        )
        .unwrap();
    }

    #[test]
    fn the_aggregated_first_read_equals_reading_row_by_row() {
        let d = tempfile::tempdir().unwrap();
        let (p, c) = db(d.path());
        let names = vec!["a".to_string(), "b".to_string()];
        let mut step = History::default();
        step.update(&p, &names, NOW).unwrap();
        let mut rng = fastrand::Rng::with_seed(7);
        for i in 0..3000 {
            let ts = NOW - 86_400_000 + i * 29_000 + rng.i64(0..1000);
            let stale = rng.u8(0..10) == 0;
            c.execute(
                "INSERT INTO readings (ts, sensor, value, stale) VALUES (?1, ?2, ?3, ?4)",
                rusqlite::params![
                    ts,
                    if i % 3 == 0 { "b" } else { "a" },
                    rng.f64() * 40.0 - 10.0,
                    stale
                ],
            )
            .unwrap();
            if i % 500 == 0 {
                step.update(&p, &names, NOW).unwrap();
            }
        }
        step.update(&p, &names, NOW).unwrap();
        let mut cold = History::default();
        cold.update(&p, &names, NOW).unwrap();
        for n in &names {
            let (a, b) = (cold.series(n).unwrap(), step.series(n).unwrap());
            assert_eq!(a.last, b.last);
            assert_eq!(a.buckets.len(), b.buckets.len());
            for (k, x) in &a.buckets {
                let y = b.buckets[k];
                assert_eq!(
                    (x.n, x.min, x.max, x.stale),
                    (y.n, y.min, y.max, y.stale),
                    "{n} {k}"
                );
                assert!((x.sum - y.sum).abs() < 1e-6);
            }
        }
    }

    #[test]
    fn history_reads_the_day_then_only_new_rows_and_starts_over_on_a_new_file() {
        let d = tempfile::tempdir().unwrap();
        let (p, c) = db(d.path());
        let names = vec!["a".to_string()];
        let mut h = History::default();
        assert_eq!(h.update(&d.path().join("none.db"), &names, NOW), Ok(false));
        insert(&c, NOW - 2 * 86_400_000, "a", 100.0); // older than a day
        insert(&c, NOW - 1000, "a", 1.0);
        insert(&c, NOW - 900, "other", 7.0); // not configured
        assert_eq!(h.update(&p, &names, NOW), Ok(true));
        let a = h.series("a").unwrap();
        assert_eq!(a.buckets.values().map(|b| b.n).sum::<u32>(), 1);
        assert!(h.series("other").is_none());
        // New rows only: the old one is not counted twice.
        insert(&c, NOW + 1000, "a", 3.0);
        h.update(&p, &names, NOW + 2000).unwrap();
        let a = h.series("a").unwrap();
        assert_eq!(a.buckets.values().map(|b| b.n).sum::<u32>(), 2);
        assert_eq!(a.last, Some((NOW + 1000, 3.0)));
        // A replaced file (a restored backup) is read afresh.
        drop(c);
        std::fs::remove_file(&p).unwrap();
        let (p, c) = db(d.path());
        insert(&c, NOW + 3000, "a", 9.0);
        insert(&c, NOW + 3100, "a", 9.0);
        insert(&c, NOW + 3200, "a", 9.0);
        h.update(&p, &names, NOW + 4000).unwrap();
        let a = h.series("a").unwrap();
        assert_eq!(a.buckets.values().map(|b| b.n).sum::<u32>(), 3);
        // Rowids going backwards (the table emptied) start over too.
        c.execute_batch("DELETE FROM readings").unwrap();
        insert(&c, NOW + 5000, "a", 4.0);
        h.update(&p, &names, NOW + 6000).unwrap();
        assert_eq!(h.series("a").unwrap().last, Some((NOW + 5000, 4.0)));
    }
}
