#![forbid(unsafe_code)]
//! `tcpclient`: see [`tcpserver::client`].

fn main() {
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    std::process::exit(tcpserver::client::main(&args))
}
