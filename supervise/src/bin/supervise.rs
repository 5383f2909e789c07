#![forbid(unsafe_code)]
//! `supervise`: see [`supervise::daemon`].

fn main() {
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    std::process::exit(supervise::daemon::main(&args))
}
