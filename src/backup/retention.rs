//! Retention as a pure function, as restic does it: `apply_retention(list,
//! policy, now)` returns a plan that says, for every backup, whether it is
//! kept or removed and *why*. `backup prune` and `backup create` only act on
//! the plan, so the rules are tested on tables without touching a disk.
//!
//! The rules:
//! - the newest `keep_last` backups (not dated in the future) are kept whatever
//!   their age: a machine that was off for 40 days keeps its last good backups;
//! - a backup no older than `retention` (judged by the time in its name) is kept;
//! - a backup dated in the future (clock trouble) is kept and reported, and does
//!   not count towards `keep_last`, so it cannot push a real backup out;
//! - everything else is removed. The last backup is never removed.

use std::time::Duration;

use chrono::{DateTime, Utc};

use super::naming::Found;

/// What retention keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// Backups no older than this are kept.
    pub retention: Duration,
    /// The newest this many are kept whatever their age (at least 1).
    pub keep_last: u32,
}

impl Policy {
    pub fn from_config(b: &crate::config::Backup) -> Policy {
        Policy {
            retention: b.retention,
            keep_last: b.keep_last,
        }
    }
}

/// Why a backup is kept. A backup may have several reasons.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeepReason {
    /// Among the newest `of` backups (`rank` 1 is the newest).
    Newest { rank: u32, of: u32 },
    /// No older than the retention.
    WithinRetention { age: Duration },
    /// Dated after `now`: the clock is (or was) wrong; kept and reported.
    FutureDated { ahead: Duration },
    /// Older than a jump of `gap` in the backup dates that the backups after
    /// it do not yet confirm (they span less than the retention).
    BeforeJump { gap: Duration },
}

impl std::fmt::Display for KeepReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KeepReason::Newest { rank, of } => write!(f, "newest {rank} of keep_last {of}"),
            KeepReason::WithinRetention { age } => {
                write!(f, "within retention ({} old)", crate::text::human_age(*age))
            }
            KeepReason::FutureDated { ahead } => write!(
                f,
                "dated {} in the future: check the clock",
                crate::text::human_age(*ahead)
            ),
            KeepReason::BeforeJump { gap } => write!(
                f,
                "before a {} jump in backup dates (clock trouble or a long pause): kept until the backups after it span the retention",
                crate::text::human_age(*gap)
            ),
        }
    }
}

/// One kept backup and its reasons.
#[derive(Debug, Clone, PartialEq)]
pub struct Kept {
    pub backup: Found,
    pub reasons: Vec<KeepReason>,
}

impl Kept {
    /// The reasons for a person: `newest, within retention`.
    pub fn why(&self) -> String {
        self.reasons
            .iter()
            .map(|r| r.to_string())
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// One backup to remove, and its age (always beyond the retention).
#[derive(Debug, Clone, PartialEq)]
pub struct Removed {
    pub backup: Found,
    pub age: Duration,
}

/// What retention decided, newest first in both lists.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Plan {
    pub keep: Vec<Kept>,
    pub remove: Vec<Removed>,
}

impl Plan {
    /// The kept backups dated in the future.
    pub fn future(&self) -> impl Iterator<Item = &Kept> {
        self.keep.iter().filter(|k| {
            k.reasons
                .iter()
                .any(|r| matches!(r, KeepReason::FutureDated { .. }))
        })
    }
}

/// Decides what to keep and what to remove. Pure: `now` is passed in.
pub fn apply_retention(list: &[Found], policy: Policy, now: DateTime<Utc>) -> Plan {
    let keep_last = policy.keep_last.max(1);
    let mut sorted: Vec<&Found> = list.iter().collect();
    // Newest first; ties (same second, other compression) by name, for a stable plan.
    sorted.sort_by(|a, b| b.time.cmp(&a.time).then_with(|| a.path.cmp(&b.path)));

    // The newest jump: consecutive (not future-dated) backups further apart
    // than the retention. Unconfirmed while the backups after it span less
    // than the retention: everything before it is kept.
    let dated: Vec<&Found> = sorted.iter().copied().filter(|b| b.time <= now).collect();
    let jump = dated.windows(2).position(|w| {
        (w[0].time - w[1].time)
            .to_std()
            .is_ok_and(|gap| gap > policy.retention)
    });
    let frozen = jump.and_then(|i| {
        let after_span = (dated[0].time - dated[i].time).to_std().unwrap_or_default();
        let gap = (dated[i].time - dated[i + 1].time)
            .to_std()
            .unwrap_or_default();
        (after_span < policy.retention).then_some((dated[i + 1].time, gap))
    });

    let mut plan = Plan::default();
    let mut rank = 0u32;
    for b in sorted {
        if let Some((before, gap)) = frozen
            && b.time <= before
        {
            plan.keep.push(Kept {
                backup: b.clone(),
                reasons: vec![KeepReason::BeforeJump { gap }],
            });
            continue;
        }
        let Ok(age) = (now - b.time).to_std() else {
            let ahead = (b.time - now).to_std().unwrap_or_default();
            plan.keep.push(Kept {
                backup: b.clone(),
                reasons: vec![KeepReason::FutureDated { ahead }],
            });
            continue;
        };
        rank += 1;
        let mut reasons = Vec::new();
        if rank <= keep_last {
            reasons.push(KeepReason::Newest {
                rank,
                of: keep_last,
            });
        }
        if age <= policy.retention {
            reasons.push(KeepReason::WithinRetention { age });
        }
        if reasons.is_empty() {
            plan.remove.push(Removed {
                backup: b.clone(),
                age,
            });
        } else {
            plan.keep.push(Kept {
                backup: b.clone(),
                reasons,
            });
        }
    }
    plan
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backup::naming;
    use crate::config::Compression;

    const DAY: u64 = 86400;

    fn now() -> DateTime<Utc> {
        "2026-11-28T12:00:00Z".parse().unwrap()
    }

    /// A backup `days_ago` days before `now` (negative: in the future).
    fn at(days_ago: f64) -> Found {
        let t = now() - chrono::Duration::seconds((days_ago * DAY as f64) as i64);
        Found {
            path: naming::file_name(t, Compression::Zstd).into(),
            time: t,
            compression: Compression::Zstd,
        }
    }

    fn policy(retention_days: u64, keep_last: u32) -> Policy {
        Policy {
            retention: Duration::from_secs(retention_days * DAY),
            keep_last,
        }
    }

    /// (kept ages, removed ages) in days, newest first.
    fn run(ages: &[f64], p: Policy) -> (Vec<f64>, Vec<f64>) {
        let list: Vec<Found> = ages.iter().map(|a| at(*a)).collect();
        let plan = apply_retention(&list, p, now());
        let age = |f: &Found| (now() - f.time).num_seconds() as f64 / DAY as f64;
        (
            plan.keep.iter().map(|k| age(&k.backup)).collect(),
            plan.remove.iter().map(|r| age(&r.backup)).collect(),
        )
    }

    #[test]
    fn retention_table() {
        // (case, ages in days, policy, kept, removed)
        type Case = (
            &'static str,
            &'static [f64],
            Policy,
            &'static [f64],
            &'static [f64],
        );
        let cases: &[Case] = &[
            ("empty", &[], policy(30, 3), &[], &[]),
            (
                "daily for 40 days: the last 30 days stay",
                &[0.0, 1.0, 2.0, 10.0, 29.0, 30.0, 31.0, 35.0, 39.0, 40.0],
                policy(30, 3),
                &[0.0, 1.0, 2.0, 10.0, 29.0, 30.0],
                &[31.0, 35.0, 39.0, 40.0],
            ),
            (
                "machine off for 40 days keeps its newest keep_last",
                &[40.0, 41.0, 42.0, 43.0, 44.0],
                policy(30, 3),
                &[40.0, 41.0, 42.0],
                &[43.0, 44.0],
            ),
            (
                "fewer than keep_last, all old: all kept",
                &[100.0, 200.0],
                policy(30, 3),
                &[100.0, 200.0],
                &[],
            ),
            (
                "a single ancient backup is never removed",
                &[1000.0],
                policy(30, 1),
                &[1000.0],
                &[],
            ),
            (
                "future-dated kept, and does not count towards keep_last",
                &[-2.0, 50.0, 60.0, 70.0],
                policy(30, 2),
                &[-2.0, 50.0, 60.0],
                &[70.0],
            ),
            (
                "input order does not matter",
                &[70.0, 0.5, 45.0, 31.0, 10.0, 20.0],
                policy(30, 1),
                &[0.5, 10.0, 20.0],
                &[31.0, 45.0, 70.0],
            ),
            (
                "one backup with the clock 10 years ahead: every real one stays",
                &[0.0, 3650.0, 3651.0, 3652.0, 3653.0, 3660.0, 3700.0],
                policy(30, 3),
                &[0.0, 3650.0, 3651.0, 3652.0, 3653.0, 3660.0, 3700.0],
                &[],
            ),
            (
                "a week of backups under the wrong clock: still unconfirmed",
                &[0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 3650.0, 3651.0, 3700.0],
                policy(30, 3),
                &[0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 3650.0, 3651.0, 3700.0],
                &[],
            ),
            (
                "a pause longer than the retention, confirmed by a retention's worth after it",
                &[0.0, 10.0, 20.0, 31.0, 100.0, 101.0],
                policy(30, 3),
                &[0.0, 10.0, 20.0],
                &[31.0, 100.0, 101.0],
            ),
        ];
        for (name, ages, p, kept, removed) in cases {
            let (k, r) = run(ages, *p);
            assert_eq!((&k[..], &r[..]), (*kept, *removed), "case: {name}");
        }
    }

    #[test]
    fn reasons_say_why_each_backup_is_kept() {
        let list = vec![at(-1.0), at(0.0), at(5.0), at(34.0)];
        let plan = apply_retention(&list, policy(30, 2), now());
        let reasons: Vec<Vec<KeepReason>> = plan.keep.iter().map(|k| k.reasons.clone()).collect();
        assert_eq!(
            reasons,
            vec![
                vec![KeepReason::FutureDated {
                    ahead: Duration::from_secs(DAY)
                }],
                vec![
                    KeepReason::Newest { rank: 1, of: 2 },
                    KeepReason::WithinRetention {
                        age: Duration::ZERO
                    }
                ],
                vec![
                    KeepReason::Newest { rank: 2, of: 2 },
                    KeepReason::WithinRetention {
                        age: Duration::from_secs(5 * DAY)
                    }
                ],
            ]
        );
        assert_eq!(plan.remove.len(), 1);
        assert_eq!(plan.remove[0].age, Duration::from_secs(34 * DAY));
        assert_eq!(plan.future().count(), 1);
        assert_eq!(
            plan.keep[0].reasons[0].to_string(),
            "dated 24h in the future: check the clock"
        );
    }

    #[test]
    fn keep_last_zero_is_treated_as_one() {
        // Config validation refuses 0; the plan refuses to delete the last anyway.
        let (k, r) = run(&[90.0, 95.0], policy(30, 0));
        assert_eq!((k, r), (vec![90.0], vec![95.0]));
    }

    #[test]
    fn same_second_different_compression_both_count() {
        let t = now() - chrono::Duration::days(40);
        let list = vec![
            Found {
                path: naming::file_name(t, Compression::Gzip).into(),
                time: t,
                compression: Compression::Gzip,
            },
            Found {
                path: naming::file_name(t, Compression::Zstd).into(),
                time: t,
                compression: Compression::Zstd,
            },
        ];
        let plan = apply_retention(&list, policy(30, 1), now());
        assert_eq!(plan.keep.len(), 1);
        assert_eq!(plan.remove.len(), 1);
        // Ties broken by name: the .gz sorts first and is the one kept.
        assert_eq!(plan.keep[0].backup.compression, Compression::Gzip);
    }
}
