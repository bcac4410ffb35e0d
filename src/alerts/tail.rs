//! `grokmon alerts tail`: the command. Reading the log (backwards from the
//! end, `--since` by binary search, bounded lines) is `alerts::read`; this
//! file parses the arguments, renders entries (escaped, coloured by level on a
//! terminal, or JSON lines) and follows the log across rotations.

use std::fs::File;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::time::Duration;

use anyhow::Context as _;
use chrono::{DateTime, SecondsFormat, Utc};

pub use super::read::*;
use super::{AlertLog, Level};
use crate::cli::{AlertsTailArgs, LevelFilter};
use crate::state::State;
use crate::text::ansi::{self, RESET};
use crate::{Ctx, UsageError};

/// How often `--follow` looks for new lines and for rotation.
const POLL: Duration = Duration::from_millis(100);

/// Parses `--since`: a duration ago (`1h`, `2d`) or an RFC 3339 time. A time
/// in the future is a usage error: it would silently show nothing.
pub fn parse_since(s: &str, now: DateTime<Utc>) -> Result<DateTime<Utc>, UsageError> {
    let shown = crate::text::sanitize(s);
    let t = if let Ok(d) = humantime::parse_duration(s.trim()) {
        chrono::Duration::from_std(d)
            .ok()
            .and_then(|d| now.checked_sub_signed(d))
            .ok_or_else(|| UsageError(format!("--since \"{shown}\": too far back")))?
    } else if let Ok(t) = DateTime::parse_from_rfc3339(s.trim()) {
        t.with_timezone(&Utc)
    } else {
        return Err(UsageError(format!(
            "--since \"{shown}\": not a duration (30m, 1h, 2d) or a time (2026-11-28T10:00:00Z)"
        )));
    };
    if t > now {
        return Err(UsageError(format!(
            "--since \"{shown}\" is in the future (now is {}); nothing could match",
            now.to_rfc3339_opts(SecondsFormat::Secs, true)
        )));
    }
    Ok(t)
}

/// The filter for the arguments, and for `--unreviewed` where the lines
/// after the review mark begin.
fn filter_for(
    args: &AlertsTailArgs,
    ctx: &Ctx,
    files: &[Opened],
) -> anyhow::Result<(Filter, (usize, u64))> {
    let from = match &args.since {
        Some(s) => Some(parse_since(s, ctx.now)?),
        None => None,
    };
    let mut start = (0, 0);
    if args.unreviewed {
        let review = match State::open_existing(&ctx.config.paths.state)? {
            Some(st) => super::ack::Review::read(&st.read())?,
            None => super::ack::Review::default(),
        };
        start = review.start(files)?;
    }
    Ok((
        Filter {
            min_level: args.level.map(|l| match l {
                LevelFilter::Warn => Level::Warn,
                LevelFilter::Crit => Level::Crit,
            }),
            source: args.source.clone(),
            from,
            unreviewed: args.unreviewed,
        },
        start,
    ))
}

/// Serializes to JSON, then escapes what serde_json leaves raw but a terminal
/// may act on (C1 controls, bidi and zero-width characters): still valid JSON
/// that decodes to the same text.
fn json_line(v: &serde_json::Value) -> String {
    let s = v.to_string();
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if !c.is_ascii() && super::needs_escape(c) {
            let mut units = [0u16; 2];
            for u in c.encode_utf16(&mut units) {
                out.push_str(&format!("\\u{u:04x}"));
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// One entry as printed: the log line (already escaped), coloured by level
/// on a terminal; foreign lines escaped and marked.
pub fn render(e: &Entry, json: bool, color: bool) -> String {
    match (e, json) {
        (Entry::Event(ev), true) => json_line(&serde_json::json!({
            "ts": ev.ts.to_rfc3339_opts(SecondsFormat::Secs, true),
            "level": ev.level.as_str(),
            "source": ev.source,
            "message": ev.message,
        })),
        (Entry::Unparsed(t), true) => json_line(&serde_json::json!({
            "ts": null, "level": null, "source": null, "message": t, "unparsed": true,
        })),
        (Entry::Event(ev), false) => {
            let c = ansi::of_status(ev.level.as_str());
            if color && !c.is_empty() {
                format!("{c}{}{RESET}", ev.to_line())
            } else {
                ev.to_line()
            }
        }
        (Entry::Unparsed(t), false) => {
            let t = crate::text::sanitize(t);
            if color {
                format!("{}[unparsed]{RESET} {t}", ansi::MAGENTA)
            } else {
                format!("[unparsed] {t}")
            }
        }
    }
}

fn print_entries(entries: &[Entry], json: bool, color: bool) -> io::Result<()> {
    if entries.is_empty() {
        return Ok(());
    }
    let mut text = String::new();
    for e in entries {
        text.push_str(&render(e, json, color));
        text.push('\n');
    }
    crate::print_stdout(&text)
}

/// The note for foreign lines a filter skipped.
fn skipped_note(n: usize) -> String {
    let lines = if n == 1 {
        "1 line".to_string()
    } else {
        format!("{n} lines")
    };
    format!(
        "note: {lines} not in grokmon's format skipped (--level, --since, --source and --unreviewed select by fields such lines do not have; without them they are shown, marked [unparsed])"
    )
}

pub fn run(args: &AlertsTailArgs, ctx: &Ctx) -> anyhow::Result<u8> {
    // A bad --since is a usage error before anything is read.
    if let Some(s) = &args.since {
        parse_since(s, ctx.now)?;
    }
    let log = AlertLog::from_config(&ctx.config);
    let path = log.path().to_path_buf();
    let files =
        open_files(&log).with_context(|| format!("cannot read alerts log {}", path.display()))?;
    let (filter, review_start) = filter_for(args, ctx, &files)?;
    let color = ctx.color && !args.json;
    if files.is_empty() {
        if !args.follow {
            crate::errln!("no alerts yet (no alerts log at {})", path.display());
            return Ok(crate::exit::OK);
        }
        crate::errln!(
            "no alerts yet (no alerts log at {}); waiting for the first",
            path.display()
        );
    }
    let ctx_err = || format!("cannot read alerts log {}", path.display());
    let start = locate(&files, filter.from)
        .with_context(ctx_err)?
        .max(review_start);
    // Without -n, `--since` and `--unreviewed` show all they select; else the last 20.
    let n = args
        .lines
        .unwrap_or(if args.since.is_some() || args.unreviewed {
            usize::MAX
        } else {
            20
        });
    let skipped = if n == usize::MAX {
        let mut batch = Vec::new();
        let skipped = each_entry_counted(&files, start, &filter, |e| {
            batch.push(e);
            if batch.len() >= 1000 {
                print_entries(&batch, args.json, color)?;
                batch.clear();
            }
            Ok(())
        })
        .with_context(ctx_err)?;
        print_entries(&batch, args.json, color)?;
        skipped
    } else {
        let (entries, skipped) =
            last_entries_counted(&files, start, &filter, n).with_context(ctx_err)?;
        print_entries(&entries, args.json, color)?;
        skipped
    };
    if skipped > 0 {
        // Not silently: they may be the original scripts' alerts.
        crate::errln!("{}", skipped_note(skipped));
    }
    if args.follow {
        // Continue the newest file where the snapshot ended.
        let resume = files
            .last()
            .filter(|f| f.path == path)
            .and_then(|f| Some((f.file.try_clone().ok()?, f.len)));
        follow(&log, resume, &filter, args.json, color)?;
    }
    Ok(crate::exit::OK)
}

/// Follows the log like `tail -F`: prints lines as they are appended and,
/// when the file is renamed away (rotation) or truncated, drains the old one
/// and continues with the new one from its beginning. Files that were
/// created and rotated away between two looks (a burst of alerts) are read
/// from their rotated names, so no line is skipped. Runs until killed or
/// until stdout is closed.
fn follow(
    log: &AlertLog,
    resume: Option<(File, u64)>,
    filter: &Filter,
    json: bool,
    color: bool,
) -> anyhow::Result<()> {
    let path = log.path();
    let ctx_err = || format!("cannot read alerts log {}", path.display());
    let mut cur = resume;
    let mut pending = RawLine {
        bytes: Vec::new(),
        cut: false,
    };
    loop {
        if let Some((f, pos)) = &mut cur {
            read_new(f, pos, &mut pending, filter, json, color).with_context(ctx_err)?;
        }
        let on_disk = std::fs::metadata(path).ok();
        let same = match (&cur, &on_disk) {
            (Some((f, _)), Some(md)) => f.metadata().is_ok_and(|m| same_file(&m, md)),
            _ => false,
        };
        if same {
            if let (Some((_, pos)), Some(md)) = (&mut cur, &on_disk)
                && md.len() < *pos
            {
                // Truncated in place: start over.
                *pos = 0;
                pending.bytes.clear();
            }
        } else if let Some(md) = on_disk
            && md.is_file()
        {
            // Rotated (or created): drain what the old file got before the
            // rename, then what was rotated after it, then the new file.
            let new = match log.open_for_reading(path) {
                Ok(f) => f,
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(anyhow::Error::new(e).context(ctx_err())),
            };
            if let Some((f, pos)) = &mut cur {
                read_new(f, pos, &mut pending, filter, json, color).with_context(ctx_err)?;
                flush_partial(&mut pending, filter, json, color)?;
                let new_md = new.metadata().with_context(ctx_err)?;
                for (g, _) in rotated_after(log, f, &new_md) {
                    let mut p = 0;
                    read_new(&g, &mut p, &mut pending, filter, json, color)
                        .with_context(ctx_err)?;
                    flush_partial(&mut pending, filter, json, color)?;
                }
            }
            cur = Some((new, 0));
            continue;
        }
        std::thread::sleep(POLL);
    }
}

fn same_file(a: &std::fs::Metadata, b: &std::fs::Metadata) -> bool {
    a.ino() == b.ino() && a.dev() == b.dev()
}

/// The rotated files newer than `old` (which now sits at `log.k`), oldest
/// first, excluding the current file: `log.(k-1)` … `log.1`. Nothing when
/// `old` is not among the rotated files (deleted, or moved by hand).
fn rotated_after(log: &AlertLog, old: &File, current: &std::fs::Metadata) -> Vec<(File, u64)> {
    let Ok(old_md) = old.metadata() else {
        return Vec::new();
    };
    let keep = (1..=64u32).take_while(|n| log.rotated(*n).exists()).count() as u32;
    let Some(k) = (1..=keep)
        .find(|n| std::fs::metadata(log.rotated(*n)).is_ok_and(|m| same_file(&m, &old_md)))
    else {
        return Vec::new();
    };
    (1..k)
        .rev()
        .filter_map(|n| log.open_for_reading(&log.rotated(n)).ok())
        .filter(|f| f.metadata().is_ok_and(|m| !same_file(&m, current)))
        .map(|f| (f, 0))
        .collect()
}

/// Prints the complete lines appended since `pos`; keeps a partial last line
/// in `pending` (bounded) until its newline arrives.
fn read_new(
    f: &File,
    pos: &mut u64,
    pending: &mut RawLine,
    filter: &Filter,
    json: bool,
    color: bool,
) -> io::Result<()> {
    let len = f.metadata()?.len();
    if len <= *pos {
        return Ok(());
    }
    let mut r = Forward::new(f, *pos, len)?;
    let mut out = Vec::new();
    while let Some((_, line)) = r.next_line()? {
        let complete = r.ended;
        let room = MAX_LINE - pending.bytes.len();
        pending.cut |= line.cut || line.bytes.len() > room;
        pending
            .bytes
            .extend_from_slice(&line.bytes[..line.bytes.len().min(room)]);
        if !complete {
            break;
        }
        let whole = std::mem::take(pending);
        let e = Entry::of(&whole);
        if filter.accepts(&e) {
            out.push(e);
        }
    }
    *pos = r.pos();
    print_entries(&out, json, color)
}

/// A last line without its newline in a file that was rotated away is still a line.
fn flush_partial(
    pending: &mut RawLine,
    filter: &Filter,
    json: bool,
    color: bool,
) -> io::Result<()> {
    if pending.bytes.is_empty() && !pending.cut {
        return Ok(());
    }
    let whole = std::mem::take(pending);
    let e = Entry::of(&whole);
    if filter.accepts(&e) {
        print_entries(&[e], json, color)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alerts::Event;

    fn t(s: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + s, 0).unwrap()
    }

    #[test]
    fn since_accepts_durations_and_times_and_refuses_the_future() {
        let now: DateTime<Utc> = "2026-11-28T12:00:00Z".parse().unwrap();
        assert_eq!(
            parse_since("1h", now).unwrap(),
            now - chrono::Duration::hours(1)
        );
        assert_eq!(
            parse_since("2d", now).unwrap(),
            now - chrono::Duration::days(2)
        );
        assert_eq!(
            parse_since("2026-11-28T10:00:00Z", now).unwrap(),
            "2026-11-28T10:00:00Z".parse::<DateTime<Utc>>().unwrap()
        );
        assert_eq!(
            parse_since("2026-11-28T11:00:00+01:00", now).unwrap(),
            "2026-11-28T10:00:00Z".parse::<DateTime<Utc>>().unwrap()
        );
        let e = parse_since("2026-11-29T00:00:00Z", now).unwrap_err();
        assert!(e.0.contains("in the future"), "{e}");
        let e = parse_since("yesterday\x1b[2J", now).unwrap_err();
        assert!(
            e.0.contains("not a duration") && !e.0.contains('\x1b'),
            "{e}"
        );
        assert!(parse_since("99999999999d", now).is_err());
    }

    #[test]
    fn colours_only_when_asked_and_only_around_the_escaped_line() {
        let e = Entry::Event(Event::new(t(0), Level::Crit, "api", "down \x1b[0m"));
        let plain = render(&e, false, false);
        assert!(!plain.contains('\x1b'), "{plain}");
        let red = render(&e, false, true);
        assert_eq!(red, format!("\x1b[31m{plain}\x1b[0m"));
        let info = Entry::Event(Event::new(t(0), Level::Info, "restart", "by alice"));
        assert_eq!(render(&info, false, true), render(&info, false, false));
        let u = render(&Entry::Unparsed("junk".into()), false, true);
        assert_eq!(u, "\x1b[35m[unparsed]\x1b[0m junk");
    }

    #[test]
    fn json_escapes_what_a_terminal_acts_on_and_round_trips() {
        let msg = "csi \u{9b}31m bidi \u{202e} esc \x1b nl \n";
        let e = Entry::Event(Event::new(t(0), Level::Crit, "api", msg));
        let j = render(&e, true, false);
        assert!(
            !j.chars()
                .any(|c| c.is_control() || crate::alerts::needs_escape(c)),
            "{j}"
        );
        let v: serde_json::Value = serde_json::from_str(&j).unwrap();
        assert_eq!(v["message"], msg);
        assert_eq!(v["level"], "CRIT");
        let u = render(&Entry::Unparsed("\x1b[2Jboom".into()), false, false);
        assert_eq!(u, "[unparsed] \\x1b[2Jboom");
    }
}
