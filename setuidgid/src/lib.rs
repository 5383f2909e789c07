//! Chain-loaders that look up an account (spec/process-tools.md):
//! `setuidgid` runs a program under the account's uid and gid, `envuidgid`
//! puts them in the environment as UID and GID.

use std::ffi::OsString;
use std::os::unix::ffi::OsStrExt;

use common::diag;

pub mod passwd;

pub use passwd::Ids;

/// Looks up an account; `None` for unknown (or unreadable) accounts, which
/// the originals do not tell apart. A dynamic build asks the system's
/// getpwnam and reads /etc/passwd itself only when that lookup fails. A
/// static build (the default release build, and the container images)
/// reads /etc/passwd itself (see [`passwd`]), then, for a name not there,
/// asks the system's other account sources (LDAP, SSSD, systemd) through
/// `getent passwd NAME` when the system has getent: a static program
/// cannot load the C library's NSS modules safely.
///
/// An /etc/passwd that is there but is neither a regular file nor a
/// directory (a FIFO) is an unreadable one, and nothing else is asked:
/// the C library's `files` source, in getpwnam or in getent, would wait on
/// it for ever.
pub fn account(name: &OsString) -> Option<Ids> {
    if std::fs::metadata(PASSWD).is_ok_and(|m| common::file::special(&m)) {
        return None;
    }
    if !cfg!(target_feature = "crt-static") {
        if let Ok(found) = system_lookup(name) {
            return found;
        }
    }
    let from_file = passwd::lookup(PASSWD, name.as_bytes()).ok().flatten();
    if from_file.is_some() || !cfg!(target_feature = "crt-static") {
        return from_file;
    }
    getent(name, GETENT)
}

/// The accounts file.
const PASSWD: &str = "/etc/passwd";

/// Where a system keeps getent (Debian: /usr/bin, with /bin a link to it
/// or a directory of its own on older systems).
const GETENT: &[&str] = &["/usr/bin/getent", "/bin/getent"];

/// `getent passwd NAME`, run from the first of `paths` that exists, its
/// line read as a passwd line. `None` when there is no getent, it knows no
/// such account (exit 2), or its answer is not a passwd line.
pub fn getent(name: &OsString, paths: &[&str]) -> Option<Ids> {
    let bin = paths.iter().find(|p| std::path::Path::new(p).is_file())?;
    // A name getent would take for an option is nobody's account.
    if name.as_bytes().first() == Some(&b'-') || name.is_empty() {
        return None;
    }
    let out = std::process::Command::new(bin)
        .arg("passwd")
        .arg(name)
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    passwd::find(
        &out.stdout[..out.stdout.len().min(64 * 1024)],
        name.as_bytes(),
    )
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn getent_answers_for_accounts_the_file_lacks() {
        // A stand-in for getent with an account of another source.
        let t = testutil::TempDir::new("getent");
        let fake = t.join("getent");
        testutil::script(
            &fake,
            "#!/bin/sh\n[ \"$1\" = passwd ] || exit 1\n\
             case $2 in ldapuser) echo 'ldapuser:*:4242:4343:LDAP:/home/l:/bin/sh' ;; *) exit 2 ;; esac\n",
        );
        let fake = fake.to_str().unwrap();
        let name = |n: &str| OsString::from(n);
        assert_eq!(
            getent(&name("ldapuser"), &["/nonexistent/getent", fake]),
            Some(Ids {
                uid: 4242,
                gid: 4343
            })
        );
        assert_eq!(getent(&name("nobody-here"), &[fake]), None);
        assert_eq!(getent(&name("-s"), &[fake]), None);
        assert_eq!(getent(&name("ldapuser"), &["/nonexistent/getent"]), None);
        // The system's own getent, where it has one, knows root.
        if GETENT.iter().any(|p| std::path::Path::new(p).is_file()) {
            assert_eq!(getent(&name("root"), GETENT), Some(Ids { uid: 0, gid: 0 }));
        }
    }
}
