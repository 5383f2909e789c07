#![forbid(unsafe_code)]
//! `tcprules`: see [`tcprules::compile`].

fn main() {
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    std::process::exit(tcprules::compile::main(&args))
}
