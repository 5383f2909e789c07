#![forbid(unsafe_code)]
//! `supervise`: see [`supervise::daemon`].

fn main() {
    // Each event published lists supervise/event/: the C library's 32 KiB
    // buffer for it is mapped and unmapped rather than left dirty in the
    // heap (8 KiB of private memory per supervise, measured).
    common::sys::transient_large_allocations(16 * 1024);
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    std::process::exit(supervise::daemon::main(&args))
}
