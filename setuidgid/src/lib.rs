//! Chain-loaders that look up an account (spec/process-tools.md):
//! `setuidgid` runs a program under the account's uid and gid, `envuidgid`
//! puts them in the environment as UID and GID.

use std::ffi::OsString;
use std::os::unix::ffi::OsStrExt;

use common::diag;
use nix::unistd::User;

/// Looks up an account with getpwnam; `None` for unknown (or unreadable)
/// accounts, which the originals do not tell apart.
pub fn account(name: &OsString) -> Option<User> {
    let name = std::str::from_utf8(name.as_bytes()).ok()?;
    User::from_name(name).ok().flatten()
}

/// `PROG: fatal: unknown account NAME`, exit 111.
pub fn unknown(name: &OsString) -> ! {
    diag::fatal(&[&"unknown account ", name])
}

pub mod envuidgid;
pub mod setuidgid;
