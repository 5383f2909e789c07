#![forbid(unsafe_code)]
//! `setlock`: see [`softlimit::setlock`].

fn main() {
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    std::process::exit(softlimit::setlock::main(&args))
}
