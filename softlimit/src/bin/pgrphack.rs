#![forbid(unsafe_code)]
//! `pgrphack`: see [`softlimit::pgrphack`].

fn main() {
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    std::process::exit(softlimit::pgrphack::main(&args))
}
