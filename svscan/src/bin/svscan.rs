#![forbid(unsafe_code)]
//! `svscan`: see [`svscan::scan`].

fn main() {
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    std::process::exit(svscan::scan::main(&args))
}
