//! Chain-loaders that change one attribute of their own process, then exec
//! the rest of the command line (spec/process-tools.md): softlimit, envdir,
//! setlock, pgrphack. No fork, no shell; on success the exit code is the
//! child's.

pub mod envdir;
pub mod pgrphack;
pub mod setlock;
pub mod softlimit;
