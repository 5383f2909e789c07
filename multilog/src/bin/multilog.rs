#![forbid(unsafe_code)]
//! `multilog`: see [`multilog::multilog`].

fn main() {
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    std::process::exit(multilog::multilog::main(&args))
}
