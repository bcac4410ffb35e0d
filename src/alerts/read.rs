//! The alerts log reader, a library for `alerts tail`, `status`, `restart`
//! and `ack`: the log and its rotated files, read without reading them front
//! to back.
//!
//! The log can be large (a 1 GiB log must answer as fast as a 1 MiB one): the
//! last N events are read backwards from the end in chunks, and a start time
//! finds its first line by a binary search over byte offsets (lines are
//! time-ordered; unparsable lines between them are skipped over). Every line
//! is bounded (`MAX_LINE`): a file of binary garbage without a newline cannot
//! exhaust memory. Lines that do not parse are returned as `Unparsed`, never
//! a crash.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Seek, SeekFrom};
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::PathBuf;

use chrono::{DateTime, Utc};

use super::{AlertLog, Event, Level};

/// Longest line kept, in bytes. The writer never produces more than ~10 KiB
/// (1000 characters, each escaped to at most 10 bytes); anything longer is
/// foreign, shown cut.
pub const MAX_LINE: usize = 4 << 20;

/// How much of an unparsable line is shown.
const SHOWN_UNPARSED: usize = 2000;

/// Backward reads start with this many bytes and double for long lines.
const CHUNK: usize = 64 * 1024;

/// Buffer of a binary-search probe: most lines fit.
const PROBE_BUF: usize = 4096;

/// A line as read from a file, without its newline; `cut` when it was longer
/// than `MAX_LINE` and only its beginning was kept.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RawLine {
    pub bytes: Vec<u8>,
    pub cut: bool,
}

/// A line of the log: an event, or foreign text (shown as it is, marked).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    Event(Event),
    /// The line, decoded lossily and cut; not yet escaped.
    Unparsed(String),
}

impl Entry {
    pub fn of(raw: &RawLine) -> Entry {
        if !raw.cut
            && let Ok(s) = std::str::from_utf8(&raw.bytes)
            && let Some(e) = Event::parse(s)
        {
            return Entry::Event(e);
        }
        let end = raw.bytes.len().min(SHOWN_UNPARSED * 4);
        let mut text: String = String::from_utf8_lossy(&raw.bytes[..end])
            .chars()
            .take(SHOWN_UNPARSED)
            .collect();
        if raw.cut || text.len() < raw.bytes.len() {
            text.push_str("…[cut]");
        }
        Entry::Unparsed(text)
    }
}

/// The parsable time of a line, if it is an event.
fn line_time(raw: &RawLine) -> Option<DateTime<Utc>> {
    match Entry::of(raw) {
        Entry::Event(e) => Some(e.ts),
        Entry::Unparsed(_) => None,
    }
}

/// The time a line starts with, without parsing the rest (`locate`'s look
/// back over many lines only needs that).
fn stamp(raw: &RawLine) -> Option<DateTime<Utc>> {
    let end = raw.bytes.iter().take(40).position(|b| *b == b' ')?;
    let text = std::str::from_utf8(&raw.bytes[..end]).ok()?;
    DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// Which events to show.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    /// This level and above.
    pub min_level: Option<Level>,
    /// Exactly this source, or its children (`sensor` matches `sensor.temp`).
    pub source: Option<String>,
    /// At or after this time: where reading starts (`locate`). Lines after
    /// that start are shown whatever their own time: the log's order is the
    /// order they were written in, and a clock that was behind must not hide
    /// a line written later.
    pub from: Option<DateTime<Utc>>,
    /// Only what came after the review mark (`--unreviewed`; where reading
    /// starts is `ack::Review::start`): a selection of alerts, so foreign
    /// lines are left out as with the other filters.
    pub unreviewed: bool,
}

impl Filter {
    fn selects_fields(&self) -> bool {
        self.min_level.is_some() || self.source.is_some() || self.from.is_some() || self.unreviewed
    }

    /// Whether this filter leaves out a foreign (unparsable, non-blank) line
    /// only because it has no fields to select on: counted, and said.
    pub fn skips_foreign(&self, entry: &Entry) -> bool {
        matches!(entry, Entry::Unparsed(t) if !t.is_empty()) && self.selects_fields()
    }

    /// Unparsable lines have no fields: they are shown only when nothing is filtered.
    pub fn accepts(&self, entry: &Entry) -> bool {
        match entry {
            // A blank line holds nothing to show.
            Entry::Unparsed(t) => !t.is_empty() && !self.selects_fields(),
            Entry::Event(e) => {
                self.min_level.is_none_or(|l| e.level >= l)
                    && self.source.as_deref().is_none_or(|s| {
                        e.source == s
                            || e.source
                                .strip_prefix(s)
                                .is_some_and(|rest| rest.starts_with('.'))
                    })
            }
        }
    }
}

/// Reads one line starting at the reader's position, keeping at most
/// `MAX_LINE` bytes of it.
/// Returns the bytes consumed (0 at the end) and whether the line ended with
/// its newline.
fn read_line_capped<R: BufRead>(
    r: &mut R,
    limit: u64,
    out: &mut RawLine,
) -> io::Result<(u64, bool)> {
    out.bytes.clear();
    out.cut = false;
    let mut used = 0u64;
    loop {
        if used >= limit {
            return Ok((used, false));
        }
        let buf = r.fill_buf()?;
        if buf.is_empty() {
            return Ok((used, false));
        }
        let avail = &buf[..buf.len().min((limit - used) as usize)];
        let (take, done) = match avail.iter().position(|&b| b == b'\n') {
            Some(i) => (i + 1, true),
            None => (avail.len(), false),
        };
        let content = if done { &avail[..take - 1] } else { avail };
        let room = MAX_LINE - out.bytes.len();
        if content.len() > room {
            out.cut = true;
        }
        out.bytes
            .extend_from_slice(&content[..content.len().min(room)]);
        r.consume(take);
        used += take as u64;
        if done {
            return Ok((used, true));
        }
    }
}

/// Reads lines forward over `[from, end)` of a file.
pub struct Forward<'a> {
    r: BufReader<&'a File>,
    pos: u64,
    end: u64,
    /// Whether the last line returned ended with its newline.
    pub ended: bool,
}

impl<'a> Forward<'a> {
    pub fn new(f: &'a File, from: u64, end: u64) -> io::Result<Forward<'a>> {
        Forward::with_capacity(CHUNK, f, from, end)
    }

    /// With a small buffer, for the probes of a binary search that read a
    /// line or two.
    fn probe(f: &'a File, from: u64, end: u64) -> io::Result<Forward<'a>> {
        Forward::with_capacity(PROBE_BUF, f, from, end)
    }

    fn with_capacity(cap: usize, f: &'a File, from: u64, end: u64) -> io::Result<Forward<'a>> {
        let mut r = BufReader::with_capacity(cap, f);
        r.seek(SeekFrom::Start(from))?;
        Ok(Forward {
            r,
            pos: from,
            end,
            ended: false,
        })
    }

    /// The next line and the offset where it starts.
    pub fn next_line(&mut self) -> io::Result<Option<(u64, RawLine)>> {
        let start = self.pos;
        let mut line = RawLine {
            bytes: Vec::new(),
            cut: false,
        };
        let (n, ended) =
            read_line_capped(&mut self.r, self.end.saturating_sub(self.pos), &mut line)?;
        self.ended = ended;
        if n == 0 {
            return Ok(None);
        }
        self.pos += n;
        Ok(Some((start, line)))
    }

    pub fn pos(&self) -> u64 {
        self.pos
    }
}

/// Reads lines backwards over `[start, end)` of a file, newest first.
pub struct Backward<'a> {
    f: &'a File,
    start: u64,
    /// File bytes `[buf_start, buf_start + buf.len())`: what is not yet returned.
    buf: Vec<u8>,
    buf_start: u64,
    chunk: usize,
}

impl<'a> Backward<'a> {
    pub fn new(f: &'a File, start: u64, end: u64) -> Backward<'a> {
        Backward {
            f,
            start,
            buf: Vec::new(),
            buf_start: end.max(start),
            chunk: CHUNK,
        }
    }

    /// The previous line and the offset where it starts.
    pub fn prev_line(&mut self) -> io::Result<Option<(u64, RawLine)>> {
        if self.buf.is_empty() && self.buf_start <= self.start {
            return Ok(None);
        }
        // The line's own terminator is not part of it.
        let mut content_end = self.buf.len();
        if content_end == 0 {
            self.fill()?;
            content_end = self.buf.len();
        }
        if content_end > 0 && self.buf[content_end - 1] == b'\n' {
            content_end -= 1;
        }
        let mut cut = false;
        loop {
            if let Some(i) = self.buf[..content_end].iter().rposition(|&b| b == b'\n') {
                let line = bounded(&self.buf[i + 1..content_end], cut);
                let at = self.buf_start + i as u64 + 1;
                self.buf.truncate(i + 1);
                return Ok(Some((at, line)));
            }
            if self.buf_start <= self.start {
                let line = bounded(&self.buf[..content_end], cut);
                let at = self.buf_start;
                self.buf.clear();
                return Ok(Some((at, line)));
            }
            if content_end > MAX_LINE {
                // A giant line: keep only what may still hold its beginning.
                cut = true;
                self.buf.truncate(0);
                content_end = 0;
            }
            let before = self.buf.len();
            self.fill()?;
            content_end += self.buf.len() - before;
        }
    }

    /// Prepends the previous chunk of the file.
    fn fill(&mut self) -> io::Result<()> {
        let n = (self.chunk as u64).min(self.buf_start - self.start) as usize;
        if n == 0 {
            return Ok(());
        }
        let from = self.buf_start - n as u64;
        let mut chunk = vec![0u8; n];
        self.f.read_exact_at(&mut chunk, from)?;
        chunk.extend_from_slice(&self.buf);
        self.buf = chunk;
        self.buf_start = from;
        // Long lines: fewer, larger reads.
        self.chunk = (self.chunk * 2).min(MAX_LINE);
        Ok(())
    }
}

/// A line's first `MAX_LINE` bytes.
fn bounded(bytes: &[u8], cut: bool) -> RawLine {
    RawLine {
        bytes: bytes[..bytes.len().min(MAX_LINE)].to_vec(),
        cut: cut || bytes.len() > MAX_LINE,
    }
}

/// The first line start at or after `off`.
fn line_start_at_or_after(f: &File, off: u64, len: u64) -> io::Result<u64> {
    if off == 0 {
        return Ok(0);
    }
    // The line holding byte off-1 ends at the next newline.
    let mut r = Forward::probe(f, off - 1, len)?;
    let mut line = RawLine {
        bytes: Vec::new(),
        cut: false,
    };
    let (n, _) = read_line_capped(&mut r.r, len - (off - 1), &mut line)?;
    Ok(off - 1 + n)
}

/// The offset from which every event has `ts >= from` and before which every
/// event has `ts < from`, for a file of time-ordered lines with unparsable
/// lines anywhere between them. A binary search over byte offsets: each probe
/// reads from a line start to the next parsable line.
pub fn find_start(f: &File, len: u64, from: DateTime<Utc>) -> io::Result<u64> {
    // P(x): the first event at or after line start x has ts >= from (or there
    // is none). P is monotone; find the smallest line start where it holds.
    let mut lo = 0u64;
    let mut hi = len;
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        let s = line_start_at_or_after(f, mid, len)?;
        if s >= hi {
            break;
        }
        let mut r = Forward::probe(f, s, len)?;
        let mut verdict = None;
        while let Some((_, line)) = r.next_line()? {
            if let Some(ts) = line_time(&line) {
                verdict = Some((ts >= from, r.pos()));
                break;
            }
        }
        match verdict {
            // No event at or after s, or it is recent enough.
            None | Some((true, _)) => hi = s,
            // Every line start up to that event's end fails.
            Some((false, end)) => lo = end,
        }
    }
    // [lo, hi) holds at most one line start, lo: walk from it.
    let mut r = Forward::new(f, lo, len)?;
    let mut start = lo;
    while let Some((at, line)) = r.next_line()? {
        if at >= hi {
            break;
        }
        match line_time(&line) {
            Some(ts) if ts >= from => return Ok(start),
            Some(_) => start = r.pos(),
            None => {}
        }
    }
    Ok(start.min(hi))
}

/// An open log file with the size it had when opened (later appends are
/// left to `--follow`).
pub struct Opened {
    pub path: PathBuf,
    pub file: File,
    pub len: u64,
}

/// Opens the log's files, oldest first; files rotated away meanwhile are skipped.
pub fn open_files(log: &AlertLog) -> io::Result<Vec<Opened>> {
    let mut v = Vec::new();
    for path in log.files_oldest_first() {
        // The writer's rules: no symlink, a regular file, owned by this
        // user or root (`log::open_for_reading`).
        match log.open_for_reading(&path) {
            Ok(file) => {
                let len = file.metadata()?.len();
                v.push(Opened { path, file, len });
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        }
    }
    Ok(v)
}

/// How many lines before the binary search's answer are looked at for lines
/// stamped at or after `from` (a clock that stepped back, then forward).
pub const DISORDER_WINDOW: usize = 2_000;

/// Where reading starts for events at or after `from`: (file index, offset).
/// Searches from the newest file back, and stops at the first file where
/// the start is not the file's beginning. The search assumes times only
/// grow; where they do not (a clock that was behind, then synced), the
/// `DISORDER_WINDOW` lines before its answer are also looked at, and the
/// start moves back to the earliest of them stamped at or after `from`.
pub fn locate(files: &[Opened], from: Option<DateTime<Utc>>) -> io::Result<(usize, u64)> {
    let Some(from) = from else {
        return Ok((0, 0));
    };
    let mut start = (0, 0);
    for (i, f) in files.iter().enumerate().rev() {
        let off = find_start(&f.file, f.len, from)?;
        if off > 0 {
            // Everything before this point is older, and so is every older file.
            start = if off >= f.len { (i + 1, 0) } else { (i, off) };
            break;
        }
    }
    if start == (0, 0) {
        return Ok(start);
    }
    let mut earliest = start;
    let mut seen = 0;
    'files: for (i, f) in files.iter().enumerate().rev() {
        if i > start.0 {
            continue;
        }
        let end = if i == start.0 { start.1 } else { f.len };
        let mut r = Backward::new(&f.file, 0, end);
        while let Some((off, line)) = r.prev_line()? {
            if stamp(&line).is_some_and(|t| t >= from) {
                earliest = (i, off);
            }
            seen += 1;
            if seen >= DISORDER_WINDOW {
                break 'files;
            }
        }
    }
    Ok(earliest)
}

/// Where the lines after a review mark begin: in the file the mark was
/// taken on (found by identity, so rotation does not move it), at its
/// length then; everything when that file is gone (rotated out, deleted) or
/// there was no log.
pub fn after_mark(files: &[Opened], mark: &super::log::Mark) -> io::Result<(usize, u64)> {
    if mark.ino == 0 {
        return Ok((0, 0));
    }
    for (i, f) in files.iter().enumerate() {
        let md = f.file.metadata()?;
        if md.ino() == mark.ino && md.dev() == mark.dev {
            // Truncated in place since: all of it is new.
            return Ok((i, if mark.len <= f.len { mark.len } else { 0 }));
        }
    }
    Ok((0, 0))
}

/// The last `n` entries accepted by `filter`, oldest first, reading backwards
/// from the end and never before `start`.
pub fn last_entries(
    files: &[Opened],
    start: (usize, u64),
    filter: &Filter,
    n: usize,
) -> io::Result<Vec<Entry>> {
    last_entries_counted(files, start, filter, n).map(|(v, _)| v)
}

/// `last_entries`, and how many foreign lines among those read the filter
/// skipped (`Filter::skips_foreign`).
pub fn last_entries_counted(
    files: &[Opened],
    start: (usize, u64),
    filter: &Filter,
    n: usize,
) -> io::Result<(Vec<Entry>, usize)> {
    let mut out = Vec::new();
    let mut skipped = 0;
    if n == 0 {
        return Ok((out, skipped));
    }
    'files: for (i, f) in files.iter().enumerate().rev() {
        if i < start.0 {
            break;
        }
        let from = if i == start.0 { start.1 } else { 0 };
        let mut r = Backward::new(&f.file, from, f.len);
        while let Some((_, line)) = r.prev_line()? {
            let e = Entry::of(&line);
            if filter.accepts(&e) {
                out.push(e);
                if out.len() == n {
                    break 'files;
                }
            } else if filter.skips_foreign(&e) {
                skipped += 1;
            }
        }
    }
    out.reverse();
    Ok((out, skipped))
}

/// Every entry accepted by `filter` from `start` on, oldest first.
pub fn each_entry(
    files: &[Opened],
    start: (usize, u64),
    filter: &Filter,
    visit: impl FnMut(Entry) -> io::Result<()>,
) -> io::Result<()> {
    each_entry_counted(files, start, filter, visit).map(|_| ())
}

/// `each_entry`, returning how many foreign lines the filter skipped.
pub fn each_entry_counted(
    files: &[Opened],
    start: (usize, u64),
    filter: &Filter,
    mut visit: impl FnMut(Entry) -> io::Result<()>,
) -> io::Result<usize> {
    let mut skipped = 0;
    for (i, f) in files.iter().enumerate().skip(start.0) {
        let from = if i == start.0 { start.1 } else { 0 };
        let mut r = Forward::new(&f.file, from, f.len)?;
        while let Some((_, line)) = r.next_line()? {
            let e = Entry::of(&line);
            if filter.accepts(&e) {
                visit(e)?;
            } else if filter.skips_foreign(&e) {
                skipped += 1;
            }
        }
    }
    Ok(skipped)
}

/// Events after `since` (all when `None`) across the log and its rotated
/// files: how many, and the last `max` of them, oldest first. Lines that do
/// not parse are skipped here. A missing log is no events. The start is found
/// by binary search (`locate`), so only the lines after `since` are read.
pub fn events_after(
    log: &AlertLog,
    since: Option<DateTime<Utc>>,
    max: usize,
) -> std::io::Result<(usize, Vec<Event>)> {
    // Lines have whole seconds: "after s" is "at or after s + 1s".
    let from = since.map(|s| s + chrono::Duration::seconds(1));
    let files = open_files(log)?;
    let start = locate(&files, from)?;
    count_from(&files, start, max)
}

/// The events from `start` on: how many, and the last `max`, oldest first.
pub fn count_from(
    files: &[Opened],
    start: (usize, u64),
    max: usize,
) -> std::io::Result<(usize, Vec<Event>)> {
    let mut count = 0;
    let mut last = std::collections::VecDeque::with_capacity(max.min(1024));
    each_entry(files, start, &Filter::default(), |entry| {
        if let Entry::Event(e) = entry {
            count += 1;
            if max > 0 {
                if last.len() == max {
                    last.pop_front();
                }
                last.push_back(e);
            }
        }
        Ok(())
    })?;
    Ok((count, last.into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + s, 0).unwrap()
    }

    fn line(s: i64, msg: &str) -> String {
        Event::new(t(s), Level::Warn, "api", msg).to_line() + "\n"
    }

    fn file_with(text: &[u8]) -> (tempfile::TempDir, File, u64) {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("a.log");
        std::fs::write(&p, text).unwrap();
        let f = File::open(&p).unwrap();
        let len = text.len() as u64;
        (d, f, len)
    }

    /// The reference: the offset after the last event older than `from`.
    fn linear_start(text: &[u8], from: DateTime<Utc>) -> u64 {
        let mut start = 0;
        let mut pos = 0;
        for l in text.split_inclusive(|&b| b == b'\n') {
            pos += l.len() as u64;
            let raw = RawLine {
                bytes: l.strip_suffix(b"\n").unwrap_or(l).to_vec(),
                cut: false,
            };
            match line_time(&raw) {
                Some(ts) if ts < from => start = pos,
                Some(_) => break,
                None => {}
            }
        }
        start
    }

    #[test]
    fn binary_search_matches_a_linear_scan_with_garbage_between() {
        let mut rng = fastrand::Rng::with_seed(7);
        for round in 0..60 {
            let mut text = Vec::new();
            let mut s = 0;
            for _ in 0..rng.usize(0..80) {
                match rng.u8(0..10) {
                    0 => text.extend_from_slice(b"hand-edited note\n"),
                    1 => {
                        let n = rng.usize(0..300);
                        text.extend((0..n).map(|_| rng.u8(..)).filter(|b| *b != b'\n'));
                        text.push(b'\n');
                    }
                    2 => text.push(b'\n'),
                    _ => {
                        // Equal times happen (several lines in one second).
                        s += rng.i64(0..3);
                        text.extend_from_slice(line(s, &"m".repeat(rng.usize(0..200))).as_bytes());
                    }
                }
            }
            if round % 3 == 0 {
                text.extend_from_slice(b"partial last line without newline");
            }
            let (_d, f, len) = file_with(&text);
            for from in -1..=s + 1 {
                assert_eq!(
                    find_start(&f, len, t(from)).unwrap(),
                    linear_start(&text, t(from)),
                    "round {round}, from {from}"
                );
            }
        }
    }

    #[test]
    fn backward_reads_lines_newest_first_and_bounds_giant_lines() {
        let mut text = Vec::new();
        text.extend_from_slice(line(1, "first").as_bytes());
        text.extend(std::iter::repeat_n(b'x', MAX_LINE + 3 * CHUNK));
        text.push(b'\n');
        text.extend_from_slice(&[0xff, 0x00, 0x1b, b'[', b'2', b'J', b'\n']);
        text.extend_from_slice(b"\n");
        text.extend_from_slice(line(2, "last").as_bytes());
        let (_d, f, len) = file_with(&text);
        let mut r = Backward::new(&f, 0, len);
        let mut got = Vec::new();
        while let Some((at, l)) = r.prev_line().unwrap() {
            got.push((at, l));
        }
        assert_eq!(got.len(), 5);
        assert_eq!(
            Entry::of(&got[0].1),
            Entry::Event(Event::new(t(2), Level::Warn, "api", "last"))
        );
        assert_eq!(got[1].1.bytes, b"");
        assert!(matches!(Entry::of(&got[2].1), Entry::Unparsed(_)));
        assert!(got[3].1.cut && got[3].1.bytes.len() <= MAX_LINE);
        assert!(matches!(Entry::of(&got[3].1), Entry::Unparsed(ref s) if s.ends_with("[cut]")));
        assert_eq!(got[4].0, 0);
        // Forward agrees on where lines start.
        let mut fw = Forward::new(&f, 0, len).unwrap();
        let mut starts = Vec::new();
        while let Some((at, l)) = fw.next_line().unwrap() {
            assert!(l.bytes.len() <= MAX_LINE);
            starts.push(at);
        }
        starts.reverse();
        assert_eq!(starts, got.iter().map(|g| g.0).collect::<Vec<_>>());
    }

    #[test]
    fn last_entries_and_locate_span_rotated_files() {
        let d = tempfile::tempdir().unwrap();
        let log = AlertLog::new(d.path().join("a.log"), 1 << 20, 3);
        std::fs::write(log.rotated(2), line(1, "a") + &line(2, "b")).unwrap();
        std::fs::write(log.rotated(1), line(3, "c") + "junk\n" + &line(4, "d")).unwrap();
        std::fs::write(log.path(), line(5, "e") + &line(6, "f")).unwrap();
        let files = open_files(&log).unwrap();
        let msgs = |v: Vec<Entry>| -> Vec<String> {
            v.into_iter()
                .map(|e| match e {
                    Entry::Event(e) => e.message,
                    Entry::Unparsed(s) => format!("?{s}"),
                })
                .collect()
        };
        let all = Filter::default();
        assert_eq!(
            msgs(last_entries(&files, (0, 0), &all, 4).unwrap()),
            ["c", "?junk", "d", "e", "f"][1..]
        );
        assert_eq!(
            msgs(last_entries(&files, (0, 0), &all, 100).unwrap()).len(),
            7
        );
        let since = Filter {
            from: Some(t(2)),
            ..Filter::default()
        };
        let start = locate(&files, since.from).unwrap();
        assert_eq!(start.0, 0);
        assert_eq!(
            msgs(last_entries(&files, start, &since, 100).unwrap()),
            ["b", "c", "d", "e", "f"]
        );
        let from5 = Some(t(5));
        assert_eq!(locate(&files, from5).unwrap(), (2, 0));
        assert_eq!(locate(&files, Some(t(99))).unwrap(), (3, 0));
        let mut seen = Vec::new();
        each_entry(
            &files,
            locate(&files, Some(t(4))).unwrap(),
            &Filter::default(),
            |e| {
                seen.push(e);
                Ok(())
            },
        )
        .unwrap();
        assert_eq!(msgs(seen), ["?junk", "d", "e", "f"]);
        let crit_or_api = Filter {
            source: Some("ap".into()),
            ..Filter::default()
        };
        assert!(
            last_entries(&files, (0, 0), &crit_or_api, 10)
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn filters_by_level_and_source_family() {
        let ev = |l, s: &str| Entry::Event(Event::new(t(0), l, s, "m"));
        let f = Filter {
            min_level: Some(Level::Warn),
            ..Filter::default()
        };
        assert!(f.accepts(&ev(Level::Crit, "api")));
        assert!(f.accepts(&ev(Level::Warn, "api")));
        assert!(!f.accepts(&ev(Level::Ok, "api")));
        assert!(!f.accepts(&ev(Level::Info, "api")));
        assert!(!f.accepts(&Entry::Unparsed("x".into())));
        assert!(Filter::default().accepts(&Entry::Unparsed("x".into())));
        assert!(!Filter::default().accepts(&Entry::Unparsed(String::new())));
        let s = Filter {
            source: Some("sensor".into()),
            ..Filter::default()
        };
        assert!(s.accepts(&ev(Level::Info, "sensor")));
        assert!(s.accepts(&ev(Level::Info, "sensor.temp")));
        assert!(!s.accepts(&ev(Level::Info, "sensors")));
    }
}
