#![forbid(unsafe_code)]
//! `rblsmtpd`.

fn main() {
    #[allow(unused_variables)]
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    std::process::exit(tcpserver::rblsmtpd::main(&args))
}
