#![forbid(unsafe_code)]
//! `argv0`.

fn main() {
    #[allow(unused_variables)]
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    std::process::exit(tcpserver::small::argv0(&args))
}
