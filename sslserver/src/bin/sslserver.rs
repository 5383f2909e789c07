#![forbid(unsafe_code)]
//! `sslserver`: see [`sslserver`].

fn main() {
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    std::process::exit(sslserver::main(&args))
}
