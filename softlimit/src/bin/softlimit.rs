#![forbid(unsafe_code)]
//! `softlimit`: see [`softlimit::softlimit`].

fn main() {
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    std::process::exit(softlimit::softlimit::main(&args))
}
