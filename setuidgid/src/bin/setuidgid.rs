#![forbid(unsafe_code)]
//! `setuidgid`: see [`setuidgid::setuidgid`].

fn main() {
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    std::process::exit(setuidgid::setuidgid::main(&args))
}
