//! Chain-loaders that look up an account (spec/process-tools.md):
//! `setuidgid` runs a program under the account's uid and gid, `envuidgid`
//! puts them in the environment as UID and GID.

use std::ffi::OsString;
use std::os::unix::ffi::OsStrExt;

use common::diag;

pub mod passwd;

pub use passwd::Ids;

/// Looks up an account; `None` for unknown (or unreadable) accounts, which
/// the originals do not tell apart. A static build reads /etc/passwd
/// itself (see [`passwd`]); a dynamic one asks the system's getpwnam and
/// reads the file only when that lookup fails.
pub fn account(name: &OsString) -> Option<Ids> {
    if !cfg!(target_feature = "crt-static") {
        if let Ok(found) = system_lookup(name) {
            return found;
        }
    }
    passwd::lookup("/etc/passwd", name.as_bytes())
        .ok()
        .flatten()
}

#[cfg(not(target_feature = "crt-static"))]
fn system_lookup(name: &OsString) -> nix::Result<Option<Ids>> {
    let Ok(name) = std::str::from_utf8(name.as_bytes()) else {
        return Ok(None);
    };
    Ok(nix::unistd::User::from_name(name)?.map(|u| Ids {
        uid: u.uid.as_raw(),
        gid: u.gid.as_raw(),
    }))
}

#[cfg(target_feature = "crt-static")]
fn system_lookup(_: &OsString) -> nix::Result<Option<Ids>> {
    Err(nix::Error::ENOSYS)
}

/// `PROG: fatal: unknown account NAME`, exit 111.
pub fn unknown(name: &OsString) -> ! {
    diag::fatal(&[&"unknown account ", name])
}

pub mod envuidgid;
pub mod setuidgid;
