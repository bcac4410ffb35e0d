//! Integration tests for the `backup` area: the real binary on real SQLite
//! databases in a temp HOME, a fake `systemctl` for restore.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::time::Duration;

use chrono::{DateTime, Utc};
use rusqlite::Connection;

use crate::util::*;

const TMP_PREFIX: &str = ".grokmon-tmp-";

/// A database at the configured path: WAL mode (as the orchestrator's store),
/// a `readings` table with `rows` rows of about `row_bytes` bytes each.
fn make_db(env: &TestEnv, rows: i64, row_bytes: i64) -> Connection {
    let p = env.database();
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    let c = Connection::open(&p).unwrap();
    c.query_row("PRAGMA journal_mode = WAL", [], |_| Ok(()))
        .unwrap();
    c.execute_batch(
        "CREATE TABLE readings (id INTEGER PRIMARY KEY, sensor TEXT NOT NULL, v REAL, note BLOB);
         CREATE INDEX readings_sensor ON readings(sensor);
         CREATE TABLE decisions (id INTEGER PRIMARY KEY, what TEXT);
         INSERT INTO decisions (what) VALUES ('fan_on'), ('fan_off');",
    )
    .unwrap();
    if rows > 0 {
        // Half random (incompressible), half repeated: a realistic ratio.
        c.execute(
            "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < ?1)
             INSERT INTO readings (sensor, v, note)
             SELECT 'temp' || (x % 7), x * 0.5, randomblob(?2 / 2) || zeroblob(?2 / 2) FROM n",
            rusqlite::params![rows, row_bytes],
        )
        .unwrap();
    }
    c
}

/// Final-named backups in the backup directory (by the naming scheme), sorted.
fn finals(env: &TestEnv) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(env.backups())
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .map(|e| e.path())
                .filter(|p| {
                    grokmon::backup::naming::parse(&p.file_name().unwrap().to_string_lossy())
                        .is_some()
                })
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// Our temporaries in the backup directory.
fn temporaries(env: &TestEnv) -> Vec<String> {
    std::fs::read_dir(env.backups())
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.starts_with(TMP_PREFIX))
                .collect()
        })
        .unwrap_or_default()
}

/// Decompresses a backup (by its suffix) into `out` and opens it.
fn open_backup(file: &Path, out: &Path) -> Connection {
    let raw = std::fs::read(file).unwrap();
    let name = file.to_string_lossy();
    let db = if name.ends_with(".zst") {
        zstd::stream::decode_all(&raw[..]).unwrap()
    } else if name.ends_with(".gz") {
        let mut v = Vec::new();
        std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&raw[..]), &mut v).unwrap();
        v
    } else {
        raw
    };
    std::fs::write(out, db).unwrap();
    Connection::open(out).unwrap()
}

fn integrity(c: &Connection) -> String {
    c.query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap()
}

fn count(c: &Connection, table: &str) -> i64 {
    c.query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))
        .unwrap()
}

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

#[test]
fn backup_create_writes_a_verified_private_zstd_file_and_logs_info() {
    let env = TestEnv::new();
    drop(make_db(&env, 200, 500));
    let out = env.run(&["backup"]);
    out.code(0)
        .stdout_has("backup grokmon-")
        .stdout_has(".db.zst: ");
    let f = finals(&env);
    assert_eq!(f.len(), 1, "{f:?}");
    assert_eq!(mode(&env.backups()), 0o700);
    assert_eq!(mode(&f[0]), 0o600);
    assert!(temporaries(&env).is_empty(), "{:?}", temporaries(&env));
    // `zstd -d` gives a plain database with everything in it.
    let c = open_backup(&f[0], &env.path("plain.db"));
    assert_eq!(integrity(&c), "ok");
    assert_eq!(count(&c, "readings"), 200);
    assert_eq!(count(&c, "decisions"), 2);
    let lines = env.alert_lines();
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(
        lines[0].contains(" INFO backup: backup grokmon-"),
        "{lines:?}"
    );

    // `backup create` is the same verb; list, verify see the backups.
    std::thread::sleep(Duration::from_millis(1100));
    env.run(&["backup", "create"]).code(0);
    assert_eq!(finals(&env).len(), 2);
    let list = env.run(&["backup", "list", "--json"]);
    list.code(0);
    let v = list.json();
    let arr = v.as_array().unwrap();
    assert_eq!(arr.len(), 2);
    assert!(
        arr[0]["time"].as_str() > arr[1]["time"].as_str(),
        "newest first: {v}"
    );
    assert_eq!(arr[0]["compression"], "zstd");
    assert!(arr[0]["ratio"].as_f64().unwrap() > 1.0, "{v}");
    assert_eq!(
        arr[0]["database_bytes"].as_u64().unwrap(),
        std::fs::metadata(env.path("plain.db")).unwrap().len()
    );
    env.run(&["backup", "list"])
        .code(0)
        .stdout_has("NAME")
        .stdout_has(".db.zst");
    env.run(&["backup", "verify"])
        .code(0)
        .stdout_has("integrity ok")
        .stdout_has("readings")
        .stdout_has("200 rows");
}

#[test]
fn backup_gzip_and_uncompressed_use_their_suffixes() {
    for (compression, suffix) in [("gzip", ".db.gz"), ("none", ".db")] {
        let env = TestEnv::new();
        env.write_config(&format!(
            "[backup]\ncompression = \"{compression}\"\nlevel = 6\n"
        ));
        drop(make_db(&env, 50, 200));
        env.run(&["backup"]).code(0);
        let f = finals(&env);
        assert_eq!(f.len(), 1);
        assert!(f[0].to_string_lossy().ends_with(suffix), "{f:?}");
        assert_eq!(mode(&f[0]), 0o600);
        let c = open_backup(&f[0], &env.path("plain.db"));
        assert_eq!(count(&c, "readings"), 50);
        env.run(&["backup", "verify", &f[0].to_string_lossy()])
            .code(0)
            .stdout_has("integrity ok");
    }
}

#[test]
fn backup_while_another_process_writes_holds_every_row_committed_before_it() {
    let env = TestEnv::new();
    let c = make_db(&env, 4000, 2000);
    let first: i64 = c
        .query_row("SELECT max(id) FROM readings", [], |r| r.get(0))
        .unwrap();
    drop(c);
    let stop = Arc::new(AtomicBool::new(false));
    let last_committed = Arc::new(AtomicI64::new(first));
    let writer = {
        let (stop, last) = (stop.clone(), last_committed.clone());
        let db = env.database();
        std::thread::spawn(move || {
            let c = Connection::open(db).unwrap();
            c.busy_timeout(Duration::from_secs(30)).unwrap();
            let mut commits = 0u64;
            while !stop.load(Ordering::SeqCst) {
                c.execute(
                    "INSERT INTO readings (sensor, v, note) VALUES ('w', 1.0, randomblob(300))",
                    [],
                )
                .unwrap();
                last.store(c.last_insert_rowid(), Ordering::SeqCst);
                commits += 1;
            }
            commits
        })
    };
    // Let the writer get going, then note what is committed before the backup begins.
    assert!(wait_until(Duration::from_secs(10), || {
        last_committed.load(Ordering::SeqCst) > first + 50
    }));
    let before = last_committed.load(Ordering::SeqCst);
    let out = env.run(&["backup"]);
    let after = last_committed.load(Ordering::SeqCst);
    stop.store(true, Ordering::SeqCst);
    let commits = writer.join().unwrap();
    out.code(0);
    assert!(
        commits > 50 && after > before,
        "the writer kept writing during the backup"
    );

    let f = finals(&env);
    assert_eq!(f.len(), 1);
    let b = open_backup(&f[0], &env.path("copy.db"));
    assert_eq!(integrity(&b), "ok");
    let (n, max): (i64, i64) = b
        .query_row("SELECT count(*), max(id) FROM readings", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .unwrap();
    // Every row committed before the backup began, and a consistent prefix: no gaps.
    assert!(
        max >= before,
        "copy ends at {max}, {before} were committed before"
    );
    assert_eq!(
        n, max,
        "the copy is one snapshot: ids 1..={max} without gaps"
    );
}

#[test]
fn backup_killed_mid_copy_leaves_no_bad_final_file_and_rerun_cleans_temporaries() {
    let env = TestEnv::new();
    drop(make_db(&env, 12_000, 4000)); // ~50 MB: the backup takes a moment
    let mut child = env
        .cmd(&["backup"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Kill it once the copy is done and the compressed file is being written
    // (the phase just before the rename), or whenever it ends.
    wait_until(Duration::from_secs(30), || {
        temporaries(&env).iter().any(|t| t.ends_with(".zst")) || child.try_wait().unwrap().is_some()
    });
    let _ = child.kill(); // SIGKILL
    let _ = child.wait();

    // Whatever happened, a file under a final name is a complete, good backup.
    for f in finals(&env) {
        env.run(&["backup", "verify", &f.to_string_lossy()]).code(0);
    }
    let left = temporaries(&env);
    let out = env.run(&["backup"]);
    out.code(0);
    if !left.is_empty() {
        out.stdout_has("leftover temporary");
    }
    assert!(
        temporaries(&env).is_empty(),
        "temporaries left after a rerun: {:?}",
        temporaries(&env)
    );
    for f in finals(&env) {
        env.run(&["backup", "verify", &f.to_string_lossy()])
            .code(0)
            .stdout_has("12000 rows");
    }
}

#[test]
fn backup_concurrent_run_is_refused_and_touches_nothing() {
    let env = TestEnv::new();
    drop(make_db(&env, 10, 100));
    env.run(&["backup"]).code(0);
    let before = finals(&env);
    // Another run holds the lock.
    let lock = std::fs::File::options()
        .read(true)
        .write(true)
        .open(env.backups().join(".grokmon-backup.lock"))
        .unwrap();
    lock.try_lock().unwrap();
    std::fs::write(env.backups().join(".grokmon-tmp-other-1.db"), b"in use").unwrap();
    std::thread::sleep(Duration::from_millis(1100));
    let out = env.run(&["backup"]);
    out.code(1)
        .stderr_has("another backup operation is running");
    assert_eq!(finals(&env), before);
    assert_eq!(
        temporaries(&env),
        [".grokmon-tmp-other-1.db"],
        "its temporary is left alone"
    );
    env.run(&["backup", "prune"]).code(1).stderr_has("lock");
    assert_eq!(
        env.alert_lines().len(),
        1,
        "a refused run is not a failed backup: {:?}",
        env.alert_lines()
    );
    drop(lock);

    // Two real runs at once: each one either backs up or says it is locked.
    let a = env
        .cmd(&["backup"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let b = env
        .cmd(&["backup"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let outs = [
        Out::of(&["backup"], a.wait_with_output().unwrap()),
        Out::of(&["backup"], b.wait_with_output().unwrap()),
    ];
    assert!(outs.iter().any(|o| o.code == 0));
    for o in &outs {
        if o.code != 0 {
            o.code(1).stderr_has("another backup operation is running");
        }
    }
    for f in finals(&env) {
        env.run(&["backup", "verify", &f.to_string_lossy()]).code(0);
    }
}

#[test]
fn backup_of_a_missing_or_corrupt_source_fails_cleanly() {
    let env = TestEnv::new();
    // An existing backup that must stay untouched.
    std::fs::create_dir_all(env.backups()).unwrap();
    let old = env.backups().join("grokmon-20200101T000000Z.db.zst");
    std::fs::write(&old, b"an old backup").unwrap();

    let out = env.run(&["backup"]);
    out.code(1)
        .stderr_has("does not exist")
        .stderr_has("paths.database");
    let lines = env.alert_lines();
    assert_eq!(lines.len(), 1);
    assert!(
        lines[0].contains(" CRIT backup: backup failed: database "),
        "{lines:?}"
    );

    // Not a database at all.
    std::fs::create_dir_all(env.database().parent().unwrap()).unwrap();
    std::fs::write(env.database(), vec![0x42u8; 64 * 1024]).unwrap();
    env.run(&["backup"]).code(1).stderr_has("not a database");

    // A real database with a damaged page: the copy fails its integrity check.
    std::fs::remove_file(env.database()).unwrap();
    let c = make_db(&env, 3000, 200);
    c.query_row("PRAGMA journal_mode = DELETE", [], |_| Ok(()))
        .unwrap();
    drop(c);
    let mut bytes = std::fs::read(env.database()).unwrap();
    let page = 4096;
    for b in &mut bytes[40 * page + 100..40 * page + 900] {
        *b = 0xA5;
    }
    std::fs::write(env.database(), bytes).unwrap();
    env.run(&["backup"]).code(1).stderr_has("failed the check");

    assert_eq!(
        finals(&env),
        std::slice::from_ref(&old),
        "no new backup, the old one kept"
    );
    assert_eq!(std::fs::read(&old).unwrap(), b"an old backup");
    assert!(temporaries(&env).is_empty());
    let crit = env
        .alert_lines()
        .iter()
        .filter(|l| l.contains(" CRIT backup: "))
        .count();
    assert_eq!(crit, 3, "{:?}", env.alert_lines());
}

/// A backup file name `days` days before now (negative: in the future).
fn name_days_ago(now: DateTime<Utc>, days: i64) -> String {
    grokmon::backup::naming::file_name(
        now - chrono::Duration::days(days),
        grokmon::config::Compression::Zstd,
    )
}

#[test]
fn prune_table_over_synthetic_names() {
    // (case, keep_last, ages in days, ages removed)
    let cases: &[(&str, u32, &[i64], &[i64])] = &[
        ("old and new", 2, &[1, 5, 29, 31, 45, 400], &[31, 45, 400]),
        ("fewer than keep_last, all old", 3, &[60, 90], &[]),
        (
            "off for 40 days keeps keep_last",
            2,
            &[40, 41, 42, 43],
            &[42, 43],
        ),
        ("future dated is kept", 1, &[-3, 50, 60], &[60]),
    ];
    for (case, keep_last, ages, removed) in cases {
        let env = TestEnv::new();
        env.write_config(&format!(
            "[backup]\nretention = \"30d\"\nkeep_last = {keep_last}\n"
        ));
        let dir = env.backups();
        std::fs::create_dir_all(&dir).unwrap();
        let now = Utc::now();
        for a in *ages {
            std::fs::write(dir.join(name_days_ago(now, *a)), b"x").unwrap();
        }
        let foreign = [
            "notes.txt",
            "grokmon-20200101T000000Z.db.zst.bak",
            "grokmon-2020-01-01.db",
        ];
        for f in foreign {
            std::fs::write(dir.join(f), b"x").unwrap();
        }
        let all: Vec<PathBuf> = finals(&env);

        let dry = env.run(&["backup", "prune", "--dry-run"]);
        dry.code(0);
        assert_eq!(finals(&env), all, "{case}: a dry run deletes nothing");
        for f in foreign {
            dry.stdout_has(&format!("foreign {f}"));
        }
        for a in *removed {
            dry.stdout_has(&format!("remove  {}", name_days_ago(now, *a)));
        }
        if ages.contains(&-3) {
            dry.stderr_has("in the future: check the clock");
        }

        env.run(&["backup", "prune"]).code(0);
        let want: Vec<PathBuf> = ages
            .iter()
            .filter(|a| !removed.contains(a))
            .map(|a| dir.join(name_days_ago(now, *a)))
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        assert_eq!(finals(&env), want, "case: {case}");
        for f in foreign {
            assert!(dir.join(f).exists(), "{case}: foreign {f} left alone");
        }
    }
}

#[test]
fn create_applies_retention() {
    let env = TestEnv::new();
    env.write_config("[backup]\nkeep_last = 1\n");
    drop(make_db(&env, 10, 100));
    std::fs::create_dir_all(env.backups()).unwrap();
    let old = env.backups().join(name_days_ago(Utc::now(), 45));
    std::fs::write(&old, b"x").unwrap();
    // Daily backups ran in between: no jump in the dates (a lone backup
    // 45 days back could be a clock that jumped; see tests/faults.rs).
    let mid = env.backups().join(name_days_ago(Utc::now(), 20));
    std::fs::write(&mid, b"x").unwrap();
    env.run(&["backup"]).code(0).stdout_has("removed grokmon-");
    assert!(!old.exists());
    assert!(mid.exists(), "within retention");
    assert_eq!(finals(&env).len(), 2);
}

#[test]
fn verify_reports_a_damaged_backup() {
    let env = TestEnv::new();
    drop(make_db(&env, 500, 400));
    env.run(&["backup"]).code(0);
    let f = finals(&env).remove(0);
    let bytes = std::fs::read(&f).unwrap();
    std::fs::write(&f, &bytes[..bytes.len() / 2]).unwrap();
    env.run(&["backup", "verify"])
        .code(1)
        .stderr_has("is damaged");
    let junk = env.path("junk.bin");
    std::fs::write(&junk, b"hello world").unwrap();
    env.run(&["backup", "verify", &junk.to_string_lossy()])
        .code(1)
        .stderr_has("not a grokmon backup");
    env.run(&["backup", "verify", "nope.db.zst"])
        .code(1)
        .stderr_has("does not exist");
    assert!(temporaries(&env).is_empty());
}

#[test]
fn restore_round_trip_keeps_the_replaced_database() {
    let env = TestEnv::new();
    env.fake_systemctl("echo inactive; exit 3");
    drop(make_db(&env, 100, 100));
    env.run(&["backup"]).code(0);
    let backup = finals(&env).remove(0);
    // Later changes, some still in the WAL when the restore happens.
    let c = Connection::open(env.database()).unwrap();
    c.set_db_config(
        rusqlite::config::DbConfig::SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE,
        true,
    )
    .unwrap();
    c.execute_batch("INSERT INTO decisions (what) VALUES ('later');")
        .unwrap();
    drop(c);
    let wal = PathBuf::from(format!("{}-wal", env.database().display()));
    assert!(
        std::fs::metadata(&wal).unwrap().len() > 0,
        "the change is in the WAL"
    );

    // Without a terminal and without --yes: refused, nothing changed.
    let name = backup.file_name().unwrap().to_string_lossy().into_owned();
    env.run(&["backup", "restore", &name])
        .code(1)
        .stderr_has("pass --yes");

    // A temporary of a killed restore (its process is gone) is cleaned up.
    let dir = env.database().parent().unwrap().to_path_buf();
    let stale = dir.join(".grokmon-tmp-restore-999999999.db");
    std::fs::write(&stale, b"half").unwrap();
    // SQLite created this database 0644 less the umask (0644 here); the
    // restored file keeps whatever mode the replaced one had.
    let replaced_mode = mode(&env.database());
    let out = env.run(&["backup", "restore", &name, "--yes"]);
    assert!(!stale.exists(), "stale restore temporary removed");
    out.code(0)
        .stdout_has("restored ")
        .stdout_has("pre-restore-");
    assert!(
        env.systemctl_calls()
            .iter()
            .any(|l| l.contains("is-active grokmon.service"))
    );
    let db = Connection::open(env.database()).unwrap();
    assert_eq!(integrity(&db), "ok");
    assert_eq!(count(&db, "decisions"), 2, "the backup's content is back");
    assert_eq!(count(&db, "readings"), 100);
    drop(db);
    assert_eq!(
        mode(&env.database()),
        replaced_mode,
        "the restored database keeps the replaced one's mode"
    );
    let pre: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().contains(".db.pre-restore-"))
        .filter(|p| {
            !p.to_string_lossy().ends_with("-wal") && !p.to_string_lossy().ends_with("-shm")
        })
        .collect();
    assert_eq!(pre.len(), 1, "{pre:?}");
    let old = Connection::open(&pre[0]).unwrap();
    assert_eq!(
        count(&old, "decisions"),
        3,
        "the replaced database kept its last change"
    );
    assert!(
        !std::fs::read_dir(&dir).unwrap().any(|e| e
            .unwrap()
            .file_name()
            .to_string_lossy()
            .starts_with(TMP_PREFIX)),
        "no temporary left"
    );
    assert!(
        env.alert_lines()
            .iter()
            .any(|l| l.contains(" INFO backup: restored "))
    );

    // --to writes elsewhere, and the service is not asked about another path.
    let to = env.path("scratch/copy.db");
    env.run(&[
        "backup",
        "restore",
        &backup.to_string_lossy(),
        "--to",
        &to.to_string_lossy(),
        "--yes",
    ])
    .code(0);
    assert_eq!(count(&Connection::open(&to).unwrap(), "readings"), 100);
}

#[test]
fn restore_keeps_the_replaced_databases_mode_and_a_new_path_is_private() {
    use std::os::unix::fs::MetadataExt;
    let env = TestEnv::new();
    env.fake_systemctl("echo inactive; exit 3");
    drop(make_db(&env, 10, 100));
    env.run(&["backup"]).code(0);
    let backup = finals(&env).remove(0);
    let db = env.database();
    std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o640)).unwrap();
    // SAFETY: geteuid has no preconditions and cannot fail.
    let root = unsafe { libc::geteuid() } == 0;
    if root {
        // As root the owner and group are carried over too.
        std::os::unix::fs::chown(&db, Some(4321), Some(4322)).unwrap();
    }
    env.run(&["backup", "restore", &backup.to_string_lossy(), "--yes"])
        .code(0)
        .stdout_has("pre-restore-");
    assert_eq!(mode(&db), 0o640, "a group reader keeps access");
    if root {
        let m = std::fs::metadata(&db).unwrap();
        assert_eq!((m.uid(), m.gid()), (4321, 4322));
    }
    assert_eq!(count(&Connection::open(&db).unwrap(), "readings"), 10);

    // Nothing replaced: private.
    let to = env.path("fresh/restored.db");
    env.run(&[
        "backup",
        "restore",
        &backup.to_string_lossy(),
        "--to",
        &to.to_string_lossy(),
        "--yes",
    ])
    .code(0);
    assert_eq!(mode(&to), 0o600);
    assert_eq!(count(&Connection::open(&to).unwrap(), "readings"), 10);
}

#[test]
fn restore_refuses_while_the_service_is_active_unless_forced() {
    let env = TestEnv::new();
    drop(make_db(&env, 20, 100));
    env.run(&["backup"]).code(0);
    let backup = finals(&env).remove(0).to_string_lossy().into_owned();
    Connection::open(env.database())
        .unwrap()
        .execute_batch("INSERT INTO decisions (what) VALUES ('live');")
        .unwrap();

    for state in ["active", "activating", "reloading"] {
        env.fake_systemctl(&format!("echo {state}; exit 0"));
        env.run(&["backup", "restore", &backup, "--yes"])
            .code(1)
            .stderr_has(&format!("grokmon.service is {state}"))
            .stderr_has("--force");
        let db = Connection::open(env.database()).unwrap();
        assert_eq!(count(&db, "decisions"), 3, "untouched while {state}");
    }
    env.fake_systemctl("echo active; exit 0");
    env.run(&["backup", "restore", &backup, "--yes", "--force"])
        .code(0)
        .stderr_has("restoring anyway");
    assert_eq!(
        count(&Connection::open(env.database()).unwrap(), "decisions"),
        2
    );

    // No systemd at all: allowed, with a note.
    env.fake_systemctl_no_bus();
    env.run(&["backup", "restore", &backup, "--yes"])
        .code(0)
        .stderr_has("cannot tell whether grokmon.service is running");
}

#[test]
fn restore_of_a_damaged_backup_changes_nothing() {
    let env = TestEnv::new();
    env.fake_systemctl("echo inactive; exit 3");
    drop(make_db(&env, 300, 300));
    env.run(&["backup"]).code(0);
    let f = finals(&env).remove(0);
    let bytes = std::fs::read(&f).unwrap();
    std::fs::write(&f, &bytes[..bytes.len() - 100]).unwrap();
    let before = std::fs::read(env.database()).unwrap();
    env.run(&["backup", "restore", &f.to_string_lossy(), "--yes"])
        .code(1)
        .stderr_has("damaged");
    assert_eq!(std::fs::read(env.database()).unwrap(), before);
    let dir = env.database().parent().unwrap().to_path_buf();
    let names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        names
            .iter()
            .all(|n| !n.starts_with(TMP_PREFIX) && !n.contains("pre-restore")),
        "{names:?}"
    );
}

#[test]
fn backup_of_a_rollback_journal_database_under_a_busy_writer_completes() {
    let env = TestEnv::new();
    // ~12 MB: several steps, so the writer gets in between them.
    let c = make_db(&env, 6000, 2000);
    c.query_row("PRAGMA journal_mode = DELETE", [], |_| Ok(()))
        .unwrap();
    drop(c);
    let stop = Arc::new(AtomicBool::new(false));
    let last_committed = Arc::new(AtomicI64::new(0));
    let writer = {
        let (stop, last) = (stop.clone(), last_committed.clone());
        let db = env.database();
        std::thread::spawn(move || {
            let c = Connection::open(db).unwrap();
            c.busy_timeout(Duration::from_secs(60)).unwrap();
            while !stop.load(Ordering::SeqCst) {
                c.execute("INSERT INTO decisions (what) VALUES ('w')", [])
                    .unwrap();
                last.store(c.last_insert_rowid(), Ordering::SeqCst);
                std::thread::sleep(Duration::from_millis(1));
            }
        })
    };
    assert!(wait_until(Duration::from_secs(10), || {
        last_committed.load(Ordering::SeqCst) > 10
    }));
    let before = last_committed.load(Ordering::SeqCst);
    let out = env.run(&["backup"]);
    stop.store(true, Ordering::SeqCst);
    writer.join().unwrap();
    out.code(0);
    let f = finals(&env);
    let b = open_backup(&f[0], &env.path("copy.db"));
    assert_eq!(integrity(&b), "ok");
    assert_eq!(count(&b, "readings"), 6000);
    let (n, max): (i64, i64) = b
        .query_row("SELECT count(*), max(id) FROM decisions", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .unwrap();
    assert!(
        max >= before,
        "copy ends at {max}, {before} were committed before"
    );
    assert_eq!(n, max, "one consistent snapshot");
}
