//! Links the unwinder into the binary (GCC's `libgcc_eh.a`) instead of
//! loading `libgcc_s.so.1` at every start, on Linux with glibc: what `gcc
//! -static-libgcc` does for a C program. Rust's standard library asks for
//! `-lgcc_s` on this target; a linker script named `libgcc_s.so`, found
//! first on the search path, hands the linker the archive instead. glibc
//! itself stays a shared library (user and host lookups go through its NSS
//! modules, which a static glibc cannot load safely).
//!
//! Why: `grokmon check` runs every few minutes and is timed against the
//! monitoring plugins (README, "Performance"). Loading, relocating and
//! initialising one more library (its constructor probes the CPU with
//! `cpuid`, which a virtual machine traps) cost 0.23-0.27 ms of a 1.5-1.8
//! ms `grokmon --version` and 8-14 % of a check on the development VM.
//!
//! When the linker has no `libgcc_eh.a` (not GCC, or a cross toolchain
//! without it), nothing changes: the binary loads `libgcc_s.so.1` as before.

use std::path::PathBuf;
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=RUSTC_LINKER");
    let var = |k: &str| std::env::var(k).unwrap_or_default();
    if var("CARGO_CFG_TARGET_OS") != "linux" || var("CARGO_CFG_TARGET_ENV") != "gnu" {
        return;
    }
    // A static C runtime links libgcc_eh already.
    if var("CARGO_CFG_TARGET_FEATURE")
        .split(',')
        .any(|f| f == "crt-static")
    {
        return;
    }
    // The C compiler that links (rustc's default on this target is `cc`),
    // asked where its archive is; it prints the bare name when it has none.
    let linker = std::env::var("RUSTC_LINKER").unwrap_or_else(|_| "cc".to_string());
    let Some(archive) = Command::new(&linker)
        .arg("-print-file-name=libgcc_eh.a")
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()))
        .filter(|p| p.is_absolute() && p.is_file())
    else {
        println!("cargo:warning=no libgcc_eh.a from {linker}: the binary will load libgcc_s.so.1");
        return;
    };
    let Some(path) = archive
        .to_str()
        .filter(|p| !p.contains(['(', ')', '"', '\n']))
    else {
        return;
    };
    let dir = PathBuf::from(var("OUT_DIR")).join("unwind");
    std::fs::create_dir_all(&dir).expect("create OUT_DIR/unwind");
    std::fs::write(dir.join("libgcc_s.so"), format!("INPUT(\"{path}\")\n"))
        .expect("write OUT_DIR/unwind/libgcc_s.so");
    println!("cargo:rustc-link-search=native={}", dir.display());
}
