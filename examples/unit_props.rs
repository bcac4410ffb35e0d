//! Prints a unit's properties as the service probe reads them over D-Bus and
//! as `systemctl show` prints them, and every difference: the check of the
//! D-Bus client against a real systemd (run it inside the systemd-nspawn
//! container of README's "Performance" section).
//!
//! Usage: unit_props [--system|--user] UNIT   (exit 1 when they differ)

use grokmon::config::Scope;
use grokmon::systemd::{QUERY_TIMEOUT, Systemctl, dbus};

fn main() {
    let mut scope = Scope::User;
    let mut unit = None;
    for a in std::env::args().skip(1) {
        match a.as_str() {
            "--system" => scope = Scope::System,
            "--user" => scope = Scope::User,
            u => unit = Some(u.to_string()),
        }
    }
    let unit = unit.unwrap_or_else(|| "grokmon.service".into());
    let mut props: Vec<&str> = grokmon::probe::service::PROPS.to_vec();
    props.extend(grokmon::systemd::rules::PROPS);
    props.sort_unstable();
    props.dedup();
    let t = std::time::Instant::now();
    let bus = dbus::unit_properties(scope, &unit, &props, QUERY_TIMEOUT);
    let bus_time = t.elapsed();
    let t = std::time::Instant::now();
    let show = Systemctl::new(scope).show(&unit, &props);
    let show_time = t.elapsed();
    println!("{unit}: D-Bus {bus_time:?}, systemctl show {show_time:?}");
    let (bus, show) = match (bus, show) {
        (Ok(b), Ok(s)) => (b, s),
        (b, s) => {
            println!("D-Bus: {b:?}\nsystemctl: {s:?}");
            std::process::exit(1);
        }
    };
    let mut differ = false;
    for p in &props {
        let (b, s) = (bus.get(*p), show.get(*p));
        // systemctl leaves an empty value out or prints it empty: the same.
        let same = b.map(String::as_str).unwrap_or("") == s.map(String::as_str).unwrap_or("");
        differ |= !same;
        println!(
            "{} {p}: D-Bus {b:?} / show {s:?}",
            if same { " " } else { "!" }
        );
    }
    std::process::exit(differ as i32);
}
