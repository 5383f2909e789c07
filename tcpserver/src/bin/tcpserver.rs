#![forbid(unsafe_code)]
//! `tcpserver`: see [`tcpserver::server`].

fn main() {
    common::sys::small_heap();
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    std::process::exit(tcpserver::server::main(&args))
}
