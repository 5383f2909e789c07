//! `sslserver [opts] HOST PORT PROGRAM [ARG...]`: tcpserver's server
//! (one accept loop, rules, limits, log lines: [`tcpserver::server`]) with
//! TLS between the client and the program (docs/sslserver.md).
//!
//! Each connection's child, once the rules allow it, is the TLS process:
//! it makes the handshake (before the program starts, or with `-n` when
//! the program asks for it), starts the program with pipes on fds 0 and 1,
//! and relays plaintext between them and TLS records on the socket. The
//! key was read by the server before it dropped privileges; the program is
//! a new image (posix_spawn + exec), so it never holds the key, in memory,
//! environment or descriptors, and the TLS process is not dumpable, so the
//! program (same user) cannot read it out of the TLS process either.

pub mod config;
pub mod der;
pub mod relay;

use std::ffi::OsStr;
use std::sync::Arc;
use std::time::Duration;

use common::args::{scan_ulong, uint_seconds};
use rustls::ServerConfig;
use tcpserver::server::{Connection, Flavor, Protocol};

const USAGE: &str = "sslserver [ -461UXpPhHrRoOdDqQveEsSnNmM ] [ -c limit ] [ -x rules.cdb ] [ -B banner ] [ -g gid ] [ -u uid ] [ -b backlog ] [ -l localname ] [ -t timeout ] [ -T ssltimeout ] [ -I interface ] host port program";

/// tcpserver's letters and sslserver's own.
const LETTERS: &str = "461UXpPhHrRoOdDqQvc:C:x:B:g:u:b:l:t:I:eEsSnNmMT:";

/// Default `-T`: seconds a handshake may take.
pub const DEFAULT_HANDSHAKE_TIMEOUT: u64 = 26;

/// sslserver's options and, once loaded, its TLS configuration.
pub struct Ssl {
    /// `-e`: the TCP* variables too.
    tcp_env: bool,
    /// `-s`: the SSL_* variables.
    ssl_env: bool,
    /// `-n`: UCSPI-TLS, the handshake when the program asks.
    delay: bool,
    /// `-m`: a client certificate is required.
    require_client: bool,
    /// `-T`.
    handshake_timeout: Duration,
    config: Option<Arc<ServerConfig>>,
}

impl Default for Ssl {
    fn default() -> Self {
        Ssl {
            tcp_env: false,
            ssl_env: false,
            delay: false,
            require_client: false,
            handshake_timeout: Duration::from_secs(DEFAULT_HANDSHAKE_TIMEOUT),
            config: None,
        }
    }
}

impl Flavor for Ssl {
    fn name(&self) -> &'static str {
        "sslserver"
    }
    fn usage(&self) -> &'static str {
        USAGE
    }
    fn letters(&self) -> &'static str {
        LETTERS
    }
    fn option(&mut self, letter: u8, value: Option<&OsStr>) {
        use std::os::unix::ffi::OsStrExt;
        match letter {
            b'e' => self.tcp_env = true,
            b'E' => self.tcp_env = false,
            b's' => self.ssl_env = true,
            b'S' => self.ssl_env = false,
            b'n' => self.delay = true,
            b'N' => self.delay = false,
            b'm' => self.require_client = true,
            b'M' => self.require_client = false,
            b'T' => {
                let v = value.map(OsStr::as_bytes).unwrap_or_default();
                // ucspi-ssl's unsigned int: modulo 2^32.
                self.handshake_timeout = uint_seconds(scan_ulong(v).0);
            }
            _ => common::diag::usage(USAGE),
        }
    }
    fn prepare(&mut self) {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64);
        self.config = Some(config::load(self.require_client, now));
        // The key is in this process from now on, and in every connection's
        // child: none of them may be read by another process of the same
        // user (ptrace, /proc/PID/mem, a core file).
        let _ = nix::sys::prctl::set_dumpable(false);
    }
    fn protocol(&self) -> Protocol {
        Protocol {
            ssl: true,
            tcp_too: self.tcp_env,
        }
    }
    fn plaintext_first(&self) -> bool {
        self.delay
    }
    fn connection(&self, c: Connection<'_>) -> ! {
        let Some(config) = self.config.clone() else {
            common::diag::fatal(&[&"TLS is not set up"])
        };
        relay::run(
            c,
            relay::Settings {
                config,
                ssl_env: self.ssl_env,
                delay: self.delay,
                handshake_timeout: self.handshake_timeout,
            },
        )
    }
}

/// The program: the server with the [`Ssl`] flavor.
pub fn main(args: &[std::ffi::OsString]) -> i32 {
    tcpserver::server::serve(args, &mut Ssl::default())
}

#[cfg(test)]
mod tests {
    #[test]
    fn letters_extend_tcpservers() {
        assert!(super::LETTERS.starts_with(tcpserver::server::LETTERS));
    }
}
