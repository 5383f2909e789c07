#![forbid(unsafe_code)]
//! `tcprulescheck`: see [`tcprules::check`].

fn main() {
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    std::process::exit(tcprules::check::main(&args))
}
