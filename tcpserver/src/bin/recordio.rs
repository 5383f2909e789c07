#![forbid(unsafe_code)]
//! `recordio`.

fn main() {
    #[allow(unused_variables)]
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    std::process::exit(tcpserver::pipes::main(
        &args,
        tcpserver::pipes::Mode::Record,
    ))
}
