#![forbid(unsafe_code)]
//! `envuidgid`: see [`setuidgid::envuidgid`].

fn main() {
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    std::process::exit(setuidgid::envuidgid::main(&args))
}
