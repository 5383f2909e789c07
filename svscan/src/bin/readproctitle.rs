#![forbid(unsafe_code)]
//! `readproctitle`: see [`svscan::readproctitle`].

fn main() {
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    std::process::exit(svscan::readproctitle::main(&args))
}
