//! `grokmon alerts ack`: mark the alerts so far as reviewed. The mark is a
//! position in the log (`alerts.acked_at`: the file's identity and its
//! length then, see `log::Mark`), so "unreviewed" means "written after the
//! ack", whatever the clock said when each line was written (a clock that
//! was behind must not hide alerts). The time of the ack is kept too
//! (`alerts.acked_until`), for people, and as the mark of a state written
//! by an older grokmon. `alerts tail --unreviewed`, `status` and `restart`
//! count the events after it.

use anyhow::Context as _;
use chrono::{DateTime, SecondsFormat, Utc};

use super::log::Mark;
use super::read::{self, Opened};
use super::{AlertLog, Event};
use crate::Ctx;
use crate::cli::AlertsAckArgs;
use crate::state::{Read, State, StateError, keys};

/// The review mark as stored.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Review {
    pub at: Option<Mark>,
    pub until: Option<DateTime<Utc>>,
}

impl Review {
    pub fn read(r: &impl Read) -> Result<Review, StateError> {
        Ok(Review {
            at: r
                .get(keys::ACKED_AT)?
                .and_then(|v| serde_json::from_str(&v).ok()),
            until: r.get_time(keys::ACKED_UNTIL)?,
        })
    }

    /// Where the unreviewed lines begin in `files`: after the position;
    /// with only a time (an older grokmon's mark), after that second.
    pub fn start(&self, files: &[Opened]) -> std::io::Result<(usize, u64)> {
        match (&self.at, self.until) {
            (Some(m), _) => read::after_mark(files, m),
            (None, Some(t)) => read::locate(files, Some(t + chrono::Duration::seconds(1))),
            (None, None) => Ok((0, 0)),
        }
    }
}

/// The events after the review mark: how many, and the last `max`, oldest first.
pub fn unreviewed(
    log: &AlertLog,
    review: &Review,
    max: usize,
) -> std::io::Result<(usize, Vec<Event>)> {
    let files = read::open_files(log)?;
    let start = review.start(&files)?;
    read::count_from(&files, start, max)
}

pub fn run(_args: &AlertsAckArgs, ctx: &Ctx) -> anyhow::Result<u8> {
    let cfg = &ctx.config;
    let log = AlertLog::from_config(cfg);
    let mut st = State::open(&cfg.paths.state)?;
    // Under the write lock, so two acks at once serialize.
    let (prev, now) = st.write(|tx| -> Result<_, StateError> {
        let prev = Review::read(tx)?;
        let mark = log.mark();
        let until = prev.until.map_or(ctx.now, |p| p.max(ctx.now));
        tx.set(
            keys::ACKED_AT,
            &serde_json::to_string(&mark).unwrap_or_default(),
        )?;
        tx.set_time(keys::ACKED_UNTIL, until)?;
        Ok((
            prev,
            Review {
                at: Some(mark),
                until: Some(until),
            },
        ))
    })?;
    let read = |r: &Review| {
        unreviewed(&log, r, 0)
            .map(|(n, _)| n)
            .with_context(|| format!("cannot read alerts log {}", log.path().display()))
    };
    let newly = read(&prev)?.saturating_sub(read(&now)?);
    let when = ctx.now.to_rfc3339_opts(SecondsFormat::Secs, true);
    let text = match newly {
        0 => format!("no new alerts; reviewed up to {when}\n"),
        1 => format!("1 alert marked as reviewed (up to {when})\n"),
        n => format!("{n} alerts marked as reviewed (up to {when})\n"),
    };
    crate::print_stdout(&text)?;
    Ok(crate::exit::OK)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alerts::Level;

    fn ev(msg: &str) -> Event {
        // Times go backwards on purpose: the mark is a position, not a time.
        let t: DateTime<Utc> = "2026-11-28T12:00:00Z".parse().unwrap();
        Event::new(
            t - chrono::Duration::days(msg.len() as i64),
            Level::Warn,
            "api",
            msg,
        )
    }

    fn unreviewed_msgs(log: &AlertLog, r: &Review) -> Vec<String> {
        unreviewed(log, r, 100)
            .unwrap()
            .1
            .into_iter()
            .map(|e| e.message)
            .collect()
    }

    #[test]
    fn the_review_mark_is_a_position_that_survives_rotation() {
        let d = tempfile::tempdir().unwrap();
        let log = AlertLog::new(d.path().join("a.log"), 100, 5);
        // No log yet: everything that comes is unreviewed.
        let none = Review {
            at: Some(log.mark()),
            until: None,
        };
        log.append(&[ev("a"), ev("bb")]).unwrap();
        let r = Review {
            at: Some(log.mark()),
            until: None,
        };
        assert_eq!(unreviewed_msgs(&log, &none), ["a", "bb"]);
        assert!(unreviewed_msgs(&log, &r).is_empty());
        // Older-looking lines after the mark are unreviewed; rotation (the
        // marked file becomes a.log.1, then a.log.2) does not move the mark.
        let mut want = Vec::new();
        for m in ["ccc", "dddd", "eeeee", "ffffff"] {
            log.append(&[ev(m)]).unwrap();
            want.push(m.to_string());
        }
        assert!(log.rotated(2).exists(), "the test needs two rotations");
        assert_eq!(unreviewed_msgs(&log, &r), want);
        // A mark whose file was rotated out entirely: all that is left is new.
        let gone = Review {
            at: Some(Mark {
                dev: 0,
                ino: u64::MAX,
                len: 10,
            }),
            until: None,
        };
        assert_eq!(unreviewed(&log, &gone, 0).unwrap().0, {
            let (n, _) = read::events_after(&log, None, 0).unwrap();
            n
        });
    }
}
