#![forbid(unsafe_code)]
//! `envdir`: see [`softlimit::envdir`].

fn main() {
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    std::process::exit(softlimit::envdir::main(&args))
}
