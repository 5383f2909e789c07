#![forbid(unsafe_code)]
//! `svwait`: see [`supervise::svwait`].

fn main() {
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    std::process::exit(supervise::svwait::main(&args))
}
