#![forbid(unsafe_code)]
//! `svstat`: see [`supervise::svstat`].

fn main() {
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    std::process::exit(supervise::svstat::main(&args))
}
