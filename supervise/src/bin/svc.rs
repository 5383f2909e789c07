#![forbid(unsafe_code)]
//! `svc`: see [`supervise::svc`].

fn main() {
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    std::process::exit(supervise::svc::main(&args))
}
