#![forbid(unsafe_code)]
//! `tcpserver`: see [`tcpserver::server`].

fn main() {
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    std::process::exit(tcpserver::server::main(&args))
}
