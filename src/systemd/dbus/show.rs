//! Property values rendered as `systemctl show --timestamp=unix` prints
//! them, so one parser reads the D-Bus answer and systemctl's text alike.

use super::*;

/// A property value as `systemctl show --timestamp=unix` (systemd 252's
/// `bus_print_property` and systemctl's own printers) shows it; `None` for
/// shapes it has no text for here.
pub fn show_text(name: &str, v: &Value) -> Option<String> {
    const LIMIT_MAX: &[&str] = &[
        "DefaultMemoryLow",
        "DefaultMemoryMin",
        "MemoryLow",
        "MemoryHigh",
        "MemoryMax",
        "MemorySwapMax",
        "MemoryLimit",
        "MemoryAvailable",
        "TasksMax",
        "DefaultTasksMax",
    ];
    Some(match v {
        Value::Str(s) => s.clone(),
        Value::Bool(b) => if *b { "yes" } else { "no" }.into(),
        Value::U64(u) => {
            let u = *u;
            if name.ends_with("Timestamp") {
                // `--timestamp=unix`: whole seconds; never set is empty.
                if u == 0 || u == u64::MAX {
                    String::new()
                } else {
                    format!("@{}", u / 1_000_000)
                }
            } else if name.contains("USec") {
                format_timespan(u)
            } else if u == u64::MAX
                && (["MemoryCurrent", "TasksCurrent"].contains(&name) || name.ends_with("NSec"))
            {
                "[not set]".into()
            } else if u == u64::MAX
                && (LIMIT_MAX.contains(&name)
                    || name.starts_with("Limit")
                    || name.starts_with("DefaultLimit"))
            {
                "infinity".into()
            } else if u == u64::MAX && name.starts_with("IP") && name.ends_with("Bytes") {
                "[no data]".into()
            } else {
                u.to_string()
            }
        }
        Value::U32(u) if name.contains("UMask") || name.contains("Mode") => format!("{u:04o}"),
        Value::U32(u) => u.to_string(),
        Value::I32(i) => i.to_string(),
        Value::I64(i) => i.to_string(),
        Value::U16(i) => i.to_string(),
        Value::I16(i) => i.to_string(),
        Value::Byte(i) => i.to_string(),
        Value::F64(d) => d.to_string(),
        Value::Array(items) if items.iter().all(|i| matches!(i, Value::Str(_))) => items
            .iter()
            .filter_map(|i| match i {
                Value::Str(s) => Some(s.as_str()),
                _ => None,
            })
            .collect::<Vec<_>>()
            .join(" "),
        // `ExecStart`...: a(sasbttttuii), one `{ ... }` line per command in
        // systemctl's output, of which a `KEY=VALUE` map keeps the last.
        Value::Array(items) if name.starts_with("Exec") && !name.ends_with("Ex") => {
            let Value::Struct(f) = items.last()? else {
                return None;
            };
            let [
                Value::Str(path),
                Value::Array(argv),
                Value::Bool(ignore),
                Value::U64(start),
                Value::U64(_),
                Value::U64(exit),
                Value::U64(_),
                Value::U32(pid),
                Value::I32(code),
                Value::I32(status),
            ] = f.as_slice()
            else {
                return None;
            };
            let argv: Vec<&str> = argv
                .iter()
                .filter_map(|a| match a {
                    Value::Str(s) => Some(s.as_str()),
                    _ => None,
                })
                .collect();
            let when = |t: u64| match t {
                0 | u64::MAX => "n/a".to_string(),
                t => format!("@{}", t / 1_000_000),
            };
            // CLD_EXITED (1) shows the exit status alone, any other code
            // the status as a signal too.
            let code_name = match code {
                1 => "exited",
                2 => "killed",
                3 => "dumped",
                4 => "trapped",
                5 => "stopped",
                6 => "continued",
                _ => "(null)",
            };
            let status = if *code == 1 {
                status.to_string()
            } else {
                let sig = signal_name(*status).map_or_else(|| status.to_string(), str::to_string);
                format!("{status}/{sig}")
            };
            format!(
                "{{ path={path} ; argv[]={} ; ignore_errors={} ; start_time=[{}] ; stop_time=[{}] ; pid={pid} ; code={code_name} ; status={status} }}",
                argv.join(" "),
                if *ignore { "yes" } else { "no" },
                when(*start),
                when(*exit),
            )
        }
        // `SuccessExitStatus`, `RestartPreventExitStatus`...: (aiai), the
        // exit statuses then the signals, space separated.
        Value::Struct(f) if name.ends_with("ExitStatus") => {
            let [Value::Array(codes), Value::Array(signals)] = f.as_slice() else {
                return None;
            };
            let mut words: Vec<String> = Vec::new();
            for c in codes {
                if let Value::I32(c) = c {
                    words.push(c.to_string());
                }
            }
            for s in signals {
                if let Value::I32(s) = s {
                    words.push(signal_name(*s).map_or_else(|| s.to_string(), str::to_string));
                }
            }
            words.join(" ")
        }
        _ => return None,
    })
}

/// A signal's name as systemd prints it (`signal_to_string`: no `SIG`).
pub(super) fn signal_name(s: i32) -> Option<&'static str> {
    const NAMES: [&str; 31] = [
        "HUP", "INT", "QUIT", "ILL", "TRAP", "ABRT", "BUS", "FPE", "KILL", "USR1", "SEGV", "USR2",
        "PIPE", "ALRM", "TERM", "STKFLT", "CHLD", "CONT", "STOP", "TSTP", "TTIN", "TTOU", "URG",
        "XCPU", "XFSZ", "VTALRM", "PROF", "WINCH", "IO", "PWR", "SYS",
    ];
    usize::try_from(s - 1)
        .ok()
        .and_then(|i| NAMES.get(i))
        .copied()
}

/// systemd's `format_timespan(usec, 0)`: `10min`, `1min 30s`, `1.500000s`,
/// `100ms`, `0`, `infinity`.
pub fn format_timespan(usec: u64) -> String {
    const TABLE: &[(&str, u64)] = &[
        ("y", 31_557_600_000_000),
        ("month", 2_629_800_000_000),
        ("w", 604_800_000_000),
        ("d", 86_400_000_000),
        ("h", 3_600_000_000),
        ("min", 60_000_000),
        ("s", 1_000_000),
        ("ms", 1_000),
        ("us", 1),
    ];
    if usec == u64::MAX {
        return "infinity".into();
    }
    if usec == 0 {
        return "0".into();
    }
    let mut t = usec;
    let mut out = String::new();
    for &(suffix, unit) in TABLE {
        if t == 0 {
            break;
        }
        if t < unit {
            continue;
        }
        let (a, b) = (t / unit, t % unit);
        let sep = if out.is_empty() { "" } else { " " };
        if t < 60_000_000 && b > 0 {
            // Dot notation below a minute, with as many digits as the
            // unit has microseconds.
            let digits = unit.ilog10() as usize;
            if digits > 0 {
                out.push_str(&format!("{sep}{a}.{b:0digits$}{suffix}"));
                break;
            }
        }
        out.push_str(&format!("{sep}{a}{suffix}"));
        t = b;
    }
    out
}
