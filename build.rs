//! Lays out the functions a short command runs next to each other in nightshift's binary.
//!
//! A `run --once` from cron on an empty queue lives a few milliseconds, and most of its memory
//! is the binary's code it touches: the kernel maps the file in blocks of 64 KiB or more, so
//! the 2 MB of functions it runs, scattered over 10 MB of code, cost about 7 MB of RSS. Listed
//! first in `link/hot-symbols.txt` (written by `.ci/hot-symbols`), the linker puts them
//! together, and the same run needs about 4 MB less. A name missing from the binary (after a
//! change) is skipped without a warning; `.ci/run` says when too many are.
//!
//! Only release builds for x86_64 Linux get it, where rustc links with its own LLD (Rust 1.90
//! and later), which knows `--symbol-ordering-file`; a linker chosen through
//! `CARGO_TARGET_<TRIPLE>_LINKER` may not, so none is passed then, nor with
//! `NIGHTSHIFT_NO_SYMBOL_ORDER` set. It changes where functions are, never what they do.

use std::env;
use std::path::Path;

fn main() {
    let list = Path::new(&env::var("CARGO_MANIFEST_DIR").expect("set by cargo"))
        .join("link")
        .join("hot-symbols.txt");
    println!("cargo:rerun-if-changed={}", list.display());
    println!("cargo:rerun-if-env-changed=NIGHTSHIFT_NO_SYMBOL_ORDER");
    println!("cargo:rerun-if-env-changed=CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_LINKER");
    let target = env::var("TARGET").unwrap_or_default();
    let release = env::var("PROFILE").is_ok_and(|p| p == "release");
    let own_linker = env::var_os("CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_LINKER").is_some();
    let opted_out = env::var_os("NIGHTSHIFT_NO_SYMBOL_ORDER").is_some();
    if target != "x86_64-unknown-linux-gnu" || !release || own_linker || opted_out {
        return;
    }
    if list.is_file() {
        println!("cargo:rustc-link-arg-bins=-Wl,--symbol-ordering-file={}", list.display());
        println!("cargo:rustc-link-arg-bins=-Wl,--no-warn-symbol-ordering");
    }
}
