#![forbid(unsafe_code)]
//! `mconnect-io`.

fn main() {
    #[allow(unused_variables)]
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    std::process::exit(tcpserver::small::mconnect_io(&args))
}
