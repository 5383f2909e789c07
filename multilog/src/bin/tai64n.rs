#![forbid(unsafe_code)]
//! `tai64n`: see [`multilog::tai64n`].

fn main() {
    std::process::exit(multilog::tai64n::main())
}
