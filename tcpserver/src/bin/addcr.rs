#![forbid(unsafe_code)]
//! `addcr`.

fn main() {
    #[allow(unused_variables)]
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    std::process::exit(tcpserver::filters::addcr_main())
}
