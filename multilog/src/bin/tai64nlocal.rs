#![forbid(unsafe_code)]
//! `tai64nlocal`: see [`multilog::tai64nlocal`].

fn main() {
    std::process::exit(multilog::tai64nlocal::main())
}
