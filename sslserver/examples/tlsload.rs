//! The TLS client of bench/sslserver.sh (the same client for sslserver and
//! for stunnel):
//!
//!   tlsload handshakes ADDR CAFILE CLIENTS SECONDS
//!       CLIENTS threads, each connecting, making a TLS 1.3 handshake (no
//!       resumption), reading the program's reply to the end, closing;
//!       prints the sessions completed per second.
//!   tlsload bulk ADDR CAFILE BYTES
//!       one session that reads BYTES of the program's output and then to
//!       the end; prints megabytes per second.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn config(cafile: &str) -> Arc<rustls::ClientConfig> {
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    for c in rustls::pki_types::CertificateDer::pem_file_iter(cafile).expect("CAFILE") {
        roots.add(c.expect("certificate")).expect("root");
    }
    let mut c =
        rustls::ClientConfig::builder_with_provider(Arc::new(sslserver::config::provider()))
            .with_protocol_versions(&[&rustls::version::TLS13])
            .expect("TLS 1.3")
            .with_root_certificates(roots)
            .with_no_client_auth();
    // Every session a full handshake.
    c.resumption = rustls::client::Resumption::disabled();
    Arc::new(c)
}

/// One session: connect, handshake, read to the end; the bytes read.
fn session(addr: &str, config: &Arc<rustls::ClientConfig>, buf: &mut [u8]) -> Option<u64> {
    let sock = TcpStream::connect(addr).ok()?;
    let _ = sock.set_nodelay(true);
    let name = rustls::pki_types::ServerName::try_from("localhost").ok()?;
    let conn = rustls::ClientConnection::new(config.clone(), name).ok()?;
    let mut s = rustls::StreamOwned::new(conn, sock);
    s.flush().ok()?;
    let mut total = 0u64;
    loop {
        match s.read(buf) {
            Ok(0) => return Some(total),
            Ok(n) => total += n as u64,
            // A server that closes without close_notify still delivered.
            Err(_) if total > 0 => return Some(total),
            Err(_) => return None,
        }
    }
}

fn main() {
    let a: Vec<String> = std::env::args().collect();
    let usage = "tlsload handshakes ADDR CAFILE CLIENTS SECONDS | bulk ADDR CAFILE BYTES";
    if a.len() < 4 {
        panic!("{usage}");
    }
    let (addr, cfg) = (a[2].clone(), config(&a[3]));
    match a[1].as_str() {
        "handshakes" => {
            let clients: usize = a[4].parse().expect("CLIENTS");
            let secs: f64 = a[5].parse().expect("SECONDS");
            let done = Arc::new(AtomicU64::new(0));
            let failed = Arc::new(AtomicU64::new(0));
            let stop = Arc::new(AtomicBool::new(false));
            let start = Instant::now();
            let threads: Vec<_> = (0..clients)
                .map(|_| {
                    let (addr, cfg) = (addr.clone(), cfg.clone());
                    let (done, failed, stop) = (done.clone(), failed.clone(), stop.clone());
                    std::thread::spawn(move || {
                        let mut buf = vec![0u8; 4096];
                        while !stop.load(Ordering::Relaxed) {
                            match session(&addr, &cfg, &mut buf) {
                                Some(_) => done.fetch_add(1, Ordering::Relaxed),
                                None => failed.fetch_add(1, Ordering::Relaxed),
                            };
                        }
                    })
                })
                .collect();
            std::thread::sleep(Duration::from_secs_f64(secs));
            let n = done.load(Ordering::Relaxed);
            let t = start.elapsed().as_secs_f64();
            stop.store(true, Ordering::Relaxed);
            for t in threads {
                let _ = t.join();
            }
            let f = failed.load(Ordering::Relaxed);
            if f > 0 {
                eprintln!("tlsload: {f} sessions failed");
            }
            println!("{:.0}", n as f64 / t);
        }
        "bulk" => {
            let want: u64 = a[4].parse().expect("BYTES");
            let mut buf = vec![0u8; 64 * 1024];
            let start = Instant::now();
            let got = session(&addr, &cfg, &mut buf).unwrap_or(0);
            let t = start.elapsed().as_secs_f64();
            if got < want {
                eprintln!("tlsload: only {got} of {want} bytes");
                std::process::exit(1);
            }
            println!("{:.1}", got as f64 / t / 1e6);
        }
        _ => panic!("{usage}"),
    }
}
