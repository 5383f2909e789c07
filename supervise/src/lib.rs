//! The supervise family: supervise, svc, svok, svstat, fghack.
//!
//! [`machine`] is supervise's state and its pure transition function;
//! [`daemon`] runs it against the real directory, FIFOs and processes. The
//! other modules are the small programs that talk to a running supervise.

pub mod daemon;
pub mod fghack;
pub mod machine;
pub mod svc;
pub mod svok;
pub mod svstat;
pub mod svwait;
pub mod wait;
