//! The restart token, a leaf both `restart` (which builds it) and `systemd`
//! (which demands it) import, so neither imports the other's way back.

/// Proof that a person reviewed and confirmed a restart. `systemd` restarts a
/// unit only for one; only the reviewed restart (`restart::run`) builds one:
/// the constructor is crate-private and a unit test checks it has one caller.
#[derive(Debug)]
pub struct Confirmed {
    _private: (),
}

impl Confirmed {
    /// Called once, in `restart.rs`, after the person typed the unit's name.
    pub(crate) fn by_person() -> Self {
        Confirmed { _private: () }
    }
}

#[cfg(test)]
mod tests {
    /// The token is built in exactly one place: the reviewed restart.
    #[test]
    fn only_the_reviewed_restart_builds_a_token() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut callers = Vec::new();
        let mut stack = vec![root.clone()];
        while let Some(dir) = stack.pop() {
            for e in std::fs::read_dir(&dir).unwrap() {
                let p = e.unwrap().path();
                if p.is_dir() {
                    stack.push(p);
                } else if p.extension().is_some_and(|x| x == "rs") && !p.ends_with("confirm.rs") {
                    let text = std::fs::read_to_string(&p).unwrap();
                    if text.contains("Confirmed::by_person()") {
                        callers.push(p.strip_prefix(&root).unwrap().display().to_string());
                    }
                }
            }
        }
        assert_eq!(callers, ["restart.rs"]);
    }
}
