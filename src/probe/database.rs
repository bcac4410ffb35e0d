//! Database: size of the orchestrator's SQLite database plus its `-wal`.
//! A missing database is CRITICAL: the service has nowhere to keep readings.

use super::{Context, Metric, Observation, Outcome, Status, Unit};
use crate::text::human_bytes;

pub fn probe(ctx: &Context<'_>) -> Outcome {
    let t = ctx.config.check.thresholds.database_mb;
    let db = &ctx.config.paths.database;
    let main = match std::fs::metadata(db) {
        // A directory (or device) there is no database the service can use.
        Ok(m) if !m.is_file() => {
            return Observation::new(
                "database",
                Status::Crit,
                format!(
                    "database {} is not a regular file (check paths.database)",
                    db.display()
                ),
            )
            .into();
        }
        Ok(m) => m.len(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Observation::new(
                "database",
                Status::Crit,
                format!("database missing: {}", db.display()),
            )
            .into();
        }
        Err(e) => {
            return Observation::new(
                "database",
                Status::Unknown,
                format!("cannot stat {}: {e}", db.display()),
            )
            .into();
        }
    };
    let mut wal_path = db.clone().into_os_string();
    wal_path.push("-wal");
    let wal = std::fs::metadata(&wal_path).map(|m| m.len()).unwrap_or(0);
    let bytes = (main + wal) as f64;
    let mb = bytes / 1_000_000.0;
    let msg = if wal > 0 {
        format!(
            "{} ({} + {} WAL)",
            human_bytes(bytes),
            human_bytes(main as f64),
            human_bytes(wal as f64)
        )
    } else {
        human_bytes(bytes)
    };
    let obs = Observation::new("database", Status::of(mb, t), msg).metric(
        Metric::new("size", bytes, Unit::Bytes)
            .thresholds(crate::config::Thresholds(t.0 * 1e6, t.1 * 1e6)),
    );
    Outcome {
        observations: vec![obs],
        carry: super::Carry {
            samples: vec![("database_bytes".into(), bytes)],
            ..Default::default()
        },
    }
}
