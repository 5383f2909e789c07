#![forbid(unsafe_code)]
//! `svok`: see [`supervise::svok`].

fn main() {
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    std::process::exit(supervise::svok::main(&args))
}
