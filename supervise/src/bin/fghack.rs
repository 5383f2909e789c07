#![forbid(unsafe_code)]
//! `fghack`: see [`supervise::fghack`].

fn main() {
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    std::process::exit(supervise::fghack::main(&args))
}
