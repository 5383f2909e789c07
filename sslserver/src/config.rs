//! The TLS settings, read once at start before privileges are dropped:
//! `CERTFILE` (the chain, PEM), `KEYFILE` (PEM, default `CERTFILE`),
//! `CAFILE` / `CADIR` (the clients' CAs). Every problem is a fatal line,
//! exit 111, before the server listens for anyone: a missing or unreadable
//! file, no certificate, a certificate expired or not yet valid, a key that
//! does not match it.

use std::ffi::{OsStr, OsString};
use std::path::Path;
use std::sync::Arc;

use common::diag::{self, errno_of};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig};

use crate::der;

/// A PEM file is read at most this far: a certificate chain or a CA
/// bundle is far smaller, and a FIFO or a huge file in its place costs
/// nothing.
const PEM_MAX: usize = 4 << 20;

/// How clients are asked for a certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientAuth {
    /// Not asked (no `CAFILE`/`CADIR`, no `-m`).
    None,
    /// Asked, verified if given (`CAFILE`/`CADIR` without `-m`).
    Optional,
    /// Required and verified (`-m`).
    Required,
}

fn env(name: &str) -> Option<OsString> {
    std::env::var_os(name).filter(|v| !v.is_empty())
}

fn die(parts: &[&dyn diag::Part]) -> ! {
    diag::fatal(parts)
}

fn read_pem(what: &str, path: &OsStr) -> Vec<u8> {
    match common::file::read_bounded(path, PEM_MAX) {
        Ok(b) => b,
        Err(e) => diag::fatal_sys(&[&"unable to load ", &what, &" ", &path], errno_of(&e)),
    }
}

/// Every certificate of a PEM text.
fn certs(pem: &[u8]) -> Vec<CertificateDer<'static>> {
    CertificateDer::pem_slice_iter(pem)
        .filter_map(Result::ok)
        .collect()
}

/// rustls's ring provider: TLS 1.3 and 1.2 suites with AES-GCM and
/// ChaCha20-Poly1305, key exchange X25519, P-256, P-384. rustls marks it
/// deprecated since 0.23.48 because ring has no post-quantum key exchange
/// (its other provider, aws-lc-rs, needs cmake and a C library built from
/// source); ring is chosen for a build that needs only cargo and cc, and
/// keeps static builds working (docs/sslserver.md).
#[allow(deprecated)]
pub fn provider() -> rustls::crypto::CryptoProvider {
    rustls::crypto::ring::default_provider()
}

/// The server's configuration, or a fatal line. `now`: seconds since the
/// epoch, for the validity check.
pub fn load(auth_required: bool, now: i64) -> Arc<ServerConfig> {
    let Some(certfile) = env("CERTFILE") else {
        die(&[&"unable to load certificate: $CERTFILE is not set"])
    };
    let keyfile = env("KEYFILE").unwrap_or_else(|| certfile.clone());
    let chain = certs(&read_pem("certificate", &certfile));
    let Some(leaf) = chain.first() else {
        die(&[
            &"unable to load certificate ",
            &certfile,
            &": no certificate in it",
        ])
    };
    match der::validity(leaf) {
        None => die(&[
            &"unable to load certificate ",
            &certfile,
            &": unreadable certificate",
        ]),
        Some((_, after)) if after < now => die(&[
            &"certificate ",
            &certfile,
            &" expired at ",
            &der::utc_text(after),
            &" UTC",
        ]),
        Some((before, _)) if before > now => die(&[
            &"certificate ",
            &certfile,
            &" is not valid before ",
            &der::utc_text(before),
            &" UTC",
        ]),
        Some(_) => {}
    }
    let key_pem = read_pem("key", &keyfile);
    let key = match PrivateKeyDer::from_pem_slice(&key_pem) {
        Ok(k) => k,
        // PKCS#8 `ENCRYPTED PRIVATE KEY`, or OpenSSL's `Proc-Type:
        // 4,ENCRYPTED` header: rustls reads neither, and there is no one
        // to ask for a passphrase.
        Err(_) if contains(&key_pem, b"ENCRYPTED") => die(&[
            &"unable to load key ",
            &keyfile,
            &": the key is encrypted (give it without a passphrase)",
        ]),
        Err(_) => die(&[&"unable to load key ", &keyfile, &": no private key in it"]),
    };
    drop(key_pem);

    let provider = Arc::new(provider());
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .unwrap_or_else(|e| die(&[&"unable to set up TLS: ", &e.to_string()]));
    let auth = match (
        auth_required,
        env("CAFILE").is_some() || env("CADIR").is_some(),
    ) {
        (true, _) => ClientAuth::Required,
        (false, true) => ClientAuth::Optional,
        (false, false) => ClientAuth::None,
    };
    let builder = if auth == ClientAuth::None {
        builder.with_no_client_auth()
    } else {
        let roots = Arc::new(client_cas());
        let v = WebPkiClientVerifier::builder_with_provider(roots, provider);
        let v = if auth == ClientAuth::Optional {
            v.allow_unauthenticated()
        } else {
            v
        };
        let v = v
            .build()
            .unwrap_or_else(|e| die(&[&"unable to load client CAs: ", &e.to_string()]));
        builder.with_client_cert_verifier(v)
    };
    let mut config = match builder.with_single_cert(chain, key) {
        Ok(c) => c,
        Err(rustls::Error::InconsistentKeys(_)) => die(&[
            &"key ",
            &keyfile,
            &" does not match certificate ",
            &certfile,
        ]),
        Err(e) => die(&[&"unable to load key ", &keyfile, &": ", &e.to_string()]),
    };
    // Every connection is a process of its own: a session cache would
    // never be shared. TLS 1.3 tickets carry their state to the client.
    config.session_storage = Arc::new(rustls::server::NoServerSessionStorage {});
    config.send_tls13_tickets = 0;
    Arc::new(config)
}

/// The clients' CAs: `CAFILE` (PEM, one or more), then every PEM file in
/// `CADIR`.
fn client_cas() -> RootCertStore {
    let mut roots = RootCertStore::empty();
    if let Some(f) = env("CAFILE") {
        let list = certs(&read_pem("CA file", &f));
        let (added, _) = roots.add_parsable_certificates(list);
        if added == 0 {
            die(&[&"unable to load CA file ", &f, &": no certificate in it"]);
        }
    }
    if let Some(d) = env("CADIR") {
        let entries = std::fs::read_dir(&d).unwrap_or_else(|e| {
            diag::fatal_sys(&[&"unable to load CA directory ", &d], errno_of(&e))
        });
        let mut names: Vec<_> = entries.filter_map(Result::ok).map(|e| e.path()).collect();
        names.sort();
        for p in names {
            if !p.is_file() {
                continue;
            }
            if let Ok(b) = common::file::read_bounded(Path::new(&p), PEM_MAX) {
                roots.add_parsable_certificates(certs(&b));
            }
        }
    }
    if roots.is_empty() {
        die(&[&"unable to load client CAs: -m needs $CAFILE or $CADIR"]);
    }
    roots
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}
