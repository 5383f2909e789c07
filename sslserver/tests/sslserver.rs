//! sslserver end to end: the real binary, certificates made by the openssl
//! command-line tool, clients that are openssl s_client and rustls (whose
//! client side comes with the server's own dependency), and programs that
//! are shell scripts.

use std::collections::BTreeMap;
use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use testutil::*;

const SSLSERVER: &str = env!("CARGO_BIN_EXE_sslserver");

fn sh(dir: &Path, cmd: &str) {
    let o = Command::new("sh")
        .args(["-c", cmd])
        .current_dir(dir)
        .output()
        .expect("sh");
    assert!(
        o.status.success(),
        "{cmd}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

/// A test CA, and with it: `server.pem`/`server.key` (localhost,
/// 127.0.0.1), `client.pem`/`client.key` (/O=Test Org/CN=client),
/// `old.pem`/`old.key` (expired in 2020), `other.key` (matches nothing),
/// `rogue.pem`/`rogue.key` (a client certificate of another CA),
/// `encrypted.key`, `encrypted-ec.key` (server.key with a passphrase, as
/// PKCS#8 and as OpenSSL's traditional form).
fn certs(dir: &Path) {
    fs::write(
        dir.join("ca.cnf"),
        "[ca]\ndefault_ca = d\n[d]\ndatabase = index.txt\nnew_certs_dir = .\n\
         serial = serial\ndefault_md = sha256\npolicy = p\ncopy_extensions = copy\n\
         unique_subject = no\nx509_extensions = ext\n[ext]\nbasicConstraints = CA:FALSE\n[p]\norganizationName = optional\ncommonName = supplied\n",
    )
    .unwrap();
    fs::write(dir.join("index.txt"), "").unwrap();
    fs::write(dir.join("serial"), "01\n").unwrap();
    let ec = "-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes";
    sh(
        dir,
        &format!(
            "set -e
            openssl req -x509 {ec} -keyout ca.key -out ca.pem -days 3650 -subj '/CN=Test CA' 2>/dev/null
            openssl req -x509 {ec} -keyout rogueca.key -out rogueca.pem -days 3650 -subj '/CN=Rogue CA' 2>/dev/null
            openssl req -new {ec} -keyout server.key -out server.csr -subj /CN=localhost \
                -addext subjectAltName=DNS:localhost,IP:127.0.0.1 2>/dev/null
            openssl req -new {ec} -keyout client.key -out client.csr -subj '/O=Test Org/CN=client' 2>/dev/null
            openssl req -new {ec} -keyout rogue.key -out rogue.csr -subj /CN=rogue 2>/dev/null
            openssl req -new {ec} -keyout old.key -out old.csr -subj /CN=localhost 2>/dev/null
            openssl genpkey -algorithm ec -pkeyopt ec_paramgen_curve:prime256v1 -out other.key 2>/dev/null
            ca() {{ openssl ca -batch -notext -config ca.cnf -cert $1.pem -keyfile $1.key -in $2.csr -out $2.pem $3 2>/dev/null; }}
            ca ca server '-days 30'
            ca ca client '-days 30'
            ca rogueca rogue '-days 30'
            ca ca old '-startdate 20200101000000Z -enddate 20200102000000Z'
            openssl pkey -in server.key -aes256 -passout pass:secret -out encrypted.key 2>/dev/null
            openssl ec -in server.key -aes256 -passout pass:secret -out encrypted-ec.key 2>/dev/null"
        ),
    );
}

/// `sslserver -1 ARGS` with the test's certificate and key; killed when
/// dropped. Every test passes `-l` (no DNS lookup of the local name: this
/// machine's resolver may be slow to fail).
fn start(args: &[&str], env: &[(&str, &str)], dir: &Path) -> Listening {
    let mut all = vec![("CERTFILE", "server.pem"), ("KEYFILE", "server.key")];
    all.extend_from_slice(env);
    Listening::start(SSLSERVER, args, &all, dir)
}

/// `sslserver -1 OPTS -R -H -l localhost 127.0.0.1 0 PROGRAM`.
fn local(opts: &[&str], program: &str, env: &[(&str, &str)], dir: &Path) -> Listening {
    let mut args = opts.to_vec();
    args.extend_from_slice(&["-R", "-H", "-l", "localhost", "127.0.0.1", "0", program]);
    start(&args, env, dir)
}

fn addr(s: &Listening) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], s.port))
}

/// Waits for `n` lines `end PID status ...`.
fn ends(s: &Listening, n: usize) -> String {
    let mut log = String::new();
    let done = wait_until(20.0, || {
        log = s.log();
        log.matches(" end ").count() >= n && log.ends_with("/40\n")
    });
    assert!(done, "fewer than {n} ends in:\n{log}");
    log
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(sslserver::config::provider())
}

fn pem_certs(path: &Path) -> Vec<rustls::pki_types::CertificateDer<'static>> {
    use rustls::pki_types::pem::PemObject;
    rustls::pki_types::CertificateDer::pem_file_iter(path)
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

/// A rustls client that trusts the test CA, with a client certificate if
/// `client` names one (`client` or `rogue`).
fn client_config(dir: &Path, client: Option<&str>) -> Arc<rustls::ClientConfig> {
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    roots.add_parsable_certificates(pem_certs(&dir.join("ca.pem")));
    let b = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots);
    let c = match client {
        None => b.with_no_client_auth(),
        Some(name) => b
            .with_client_auth_cert(
                pem_certs(&dir.join(format!("{name}.pem"))),
                rustls::pki_types::PrivateKeyDer::from_pem_file(dir.join(format!("{name}.key")))
                    .unwrap(),
            )
            .unwrap(),
    };
    Arc::new(c)
}

/// Connects with TLS, sends `input`, reads to the end; the bytes, or the
/// error that ended the session.
fn tls_talk(
    addr: SocketAddr,
    config: Arc<rustls::ClientConfig>,
    input: &[u8],
) -> Result<Vec<u8>, String> {
    let sock = TcpStream::connect(addr).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    tls_over(sock, config, input)
}

fn tls_over(
    sock: TcpStream,
    config: Arc<rustls::ClientConfig>,
    input: &[u8],
) -> Result<Vec<u8>, String> {
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let conn = rustls::ClientConnection::new(config, name).unwrap();
    let mut s = rustls::StreamOwned::new(conn, sock);
    while s.conn.is_handshaking() {
        s.conn.complete_io(&mut s.sock).map_err(|e| e.to_string())?;
    }
    s.write_all(input).map_err(|e| e.to_string())?;
    s.conn.send_close_notify();
    s.flush().map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    match s.read_to_end(&mut out) {
        Ok(_) => Ok(out),
        Err(e) if out.is_empty() => Err(e.to_string()),
        Err(_) => Ok(out),
    }
}

/// The environment lines a program printed, as a map.
fn env_of(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// `pid` of the first `ok` line.
fn first_pid(log: &str, word: &str) -> String {
    log.lines()
        .find_map(|l| l.strip_prefix(&format!("sslserver: {word} ")))
        .and_then(|r| r.split(' ').next())
        .unwrap_or_else(|| panic!("no {word} line in:\n{log}"))
        .to_string()
}

/// The connection's variables (not the SSL_CERT_* of the test's own
/// environment).
const SHOW_ENV: &str = "env | grep -E '^(PROTO|SSL|TCP|GREETING)' | grep -v '^SSL_CERT_' | sort";

#[test]
fn smtps_session_through_openssl_s_client() {
    let dir = TempDir::new("ssl-smtps");
    certs(dir.path());
    script(
        dir.join("smtpd"),
        &format!(
            "#!/bin/sh\nprintf '220 localhost ESMTP\\r\\n'\nwhile read -r line; do\n  \
             case $line in\n    EHLO*) printf '250 localhost\\r\\n' ;;\n    \
             QUIT*) printf '221 bye\\r\\n'; {SHOW_ENV}; exit 0 ;;\n  esac\ndone\n"
        ),
    );
    let server = local(&["-v", "-s"], "./smtpd", &[], dir.path());
    let out = Command::new("openssl")
        .args([
            "s_client",
            "-quiet",
            "-no_ign_eof",
            "-crlf",
            "-verify_return_error",
        ])
        .args(["-CAfile", "ca.pem", "-servername", "localhost", "-connect"])
        .arg(addr(&server).to_string())
        .current_dir(dir.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .and_then(|mut c| {
            let mut i = c.stdin.take().unwrap();
            // s_client sends what it reads; the server's 221 ends it.
            i.write_all(b"EHLO client\nQUIT\n")?;
            let mut o = String::new();
            c.stdout.take().unwrap().read_to_string(&mut o)?;
            drop(i);
            c.wait()?;
            Ok(o)
        })
        .expect("openssl s_client");
    let log = ends(&server, 1);
    // (s_client's -crlf turns the CRLFs it prints back into LFs.)
    let mut lines = out.lines().map(|l| l.trim_end_matches('\r'));
    assert_eq!(lines.next(), Some("220 localhost ESMTP"));
    assert_eq!(lines.next(), Some("250 localhost"));
    assert_eq!(lines.next(), Some("221 bye"));
    let env = env_of(&out);
    let rport = env["SSLREMOTEPORT"].clone();
    let cipher = env["SSL_CIPHER"].clone();
    let p = server.port.to_string();
    let want: BTreeMap<String, String> = [
        ("PROTO", "SSL"),
        ("SSLLOCALHOST", "localhost"),
        ("SSLLOCALIP", "127.0.0.1"),
        ("SSLLOCALPORT", p.as_str()),
        ("SSLREMOTEIP", "127.0.0.1"),
        ("SSLREMOTEPORT", rport.as_str()),
        ("SSL_CIPHER", cipher.as_str()),
        ("SSL_PROTOCOL", "TLSv1.3"),
        ("SSL_TLS_SNI_SERVERNAME", "localhost"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    assert_eq!(env, want);
    assert!(
        [
            "TLS_AES_256_GCM_SHA384",
            "TLS_AES_128_GCM_SHA256",
            "TLS_CHACHA20_POLY1305_SHA256"
        ]
        .contains(&cipher.as_str()),
        "{cipher}"
    );
    let pid = first_pid(&log, "ok");
    assert_eq!(
        log,
        format!(
            "sslserver: status: 0/40\nsslserver: status: 1/40\n\
             sslserver: pid {pid} from 127.0.0.1\n\
             sslserver: ok {pid} localhost:127.0.0.1:{p} :127.0.0.1::{rport}\n\
             sslserver: tls {pid} TLSv1.3 {cipher}\n\
             sslserver: end {pid} status 0\nsslserver: status: 0/40\n"
        )
    );
}

#[test]
fn tcp_variables_with_e_and_rules_as_tcpserver() {
    let dir = TempDir::new("ssl-env");
    certs(dir.path());
    script(dir.join("show"), &format!("#!/bin/sh\n{SHOW_ENV}\n"));
    // Rules as tcpserver's: a variable set, and a denied client that is
    // closed before any TLS.
    compile_rules(
        SSLSERVER,
        dir.path(),
        "rules.cdb",
        "127.0.0.2:deny\n127.:allow,GREETING=\"hi\"\n",
    );
    let server = start(
        &[
            "-v",
            "-e",
            "-R",
            "-H",
            "-l",
            "here",
            "-x",
            "rules.cdb",
            "0",
            "0",
            "./show",
        ],
        &[],
        dir.path(),
    );
    let out = tls_talk(addr(&server), client_config(dir.path(), None), b"").unwrap();
    let env = env_of(&String::from_utf8(out).unwrap());
    for (k, v) in [
        ("PROTO", "SSL"),
        ("SSLLOCALHOST", "here"),
        ("TCPLOCALHOST", "here"),
        ("SSLREMOTEIP", "127.0.0.1"),
        ("TCPREMOTEIP", "127.0.0.1"),
        ("GREETING", "hi"),
    ] {
        assert_eq!(env.get(k).map(String::as_str), Some(v), "{k} in {env:?}");
    }
    assert!(!env.contains_key("SSL_PROTOCOL"), "-s not given: {env:?}");
    // From 127.0.0.2: denied, and the client sees the connection closed.
    let s = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    s.bind(&SocketAddr::from(([127, 0, 0, 2], 0)).into())
        .unwrap();
    s.connect(&addr(&server).into()).unwrap();
    let r = tls_over(s.into(), client_config(dir.path(), None), b"x");
    assert!(r.is_err() || r == Ok(Vec::new()), "{r:?}");
    let log = ends(&server, 2);
    let pid = first_pid(&log, "deny");
    assert!(
        log.contains(&format!(
            "sslserver: deny {pid} here:127.0.0.1:{} :127.0.0.2::",
            server.port
        )),
        "{log}"
    );
    assert!(
        log.contains(&format!("sslserver: end {pid} status 25600\n")),
        "{log}"
    );
}

#[test]
fn client_certificate_required_with_m() {
    let dir = TempDir::new("ssl-m");
    certs(dir.path());
    script(
        dir.join("who"),
        "#!/bin/sh\necho \"dn=$SSL_CLIENT_S_DN\"\necho \"hash=$SSL_CLIENT_CERT_HASH\"\n",
    );
    let server = local(
        &["-v", "-m", "-s"],
        "./who",
        &[("CAFILE", "ca.pem")],
        dir.path(),
    );
    // The CA's client: its subject and the SHA-256 of its certificate.
    let out = tls_talk(
        addr(&server),
        client_config(dir.path(), Some("client")),
        b"",
    )
    .unwrap();
    let fp = Command::new("openssl")
        .args([
            "x509",
            "-in",
            "client.pem",
            "-noout",
            "-fingerprint",
            "-sha256",
        ])
        .current_dir(dir.path())
        .output()
        .unwrap();
    let fp = String::from_utf8(fp.stdout).unwrap();
    let hash: String = fp
        .trim()
        .split_once('=')
        .unwrap()
        .1
        .replace(':', "")
        .to_lowercase();
    // The subject as OpenSSL writes it on one line.
    let subject = Command::new("openssl")
        .args([
            "x509",
            "-in",
            "client.pem",
            "-noout",
            "-subject",
            "-nameopt",
            "compat",
        ])
        .current_dir(dir.path())
        .output()
        .unwrap();
    let subject = String::from_utf8(subject.stdout).unwrap();
    assert_eq!(subject, "subject=/O=Test Org/CN=client\n");
    assert_eq!(
        String::from_utf8(out).unwrap(),
        format!("dn={}hash={hash}\n", &subject["subject=".len()..])
    );
    // Without a certificate, and with one of another CA: refused, and the
    // program never runs.
    for who in [None, Some("rogue")] {
        let r = tls_talk(addr(&server), client_config(dir.path(), who), b"");
        assert!(
            r.is_err() || r == Ok(Vec::new()),
            "{who:?} was served: {r:?}"
        );
    }
    let log = ends(&server, 3);
    let refused: Vec<&str> = log
        .lines()
        .filter(|l| {
            l.starts_with("sslserver: warning: dropping connection, unable to accept SSL: ")
        })
        .collect();
    assert_eq!(
        refused,
        [
            "sslserver: warning: dropping connection, unable to accept SSL: peer sent no certificates",
            "sslserver: warning: dropping connection, unable to accept SSL: invalid peer certificate: UnknownIssuer"
        ],
        "{log}"
    );
    assert_eq!(
        log.matches(" status 28416\n").count(),
        2,
        "two exits 111: {log}"
    );

    // The CAs from a directory instead (CADIR: every file in it is read;
    // one that is not PEM is passed over).
    fs::create_dir(dir.join("cas")).unwrap();
    fs::copy(dir.join("ca.pem"), dir.join("cas/test-ca.pem")).unwrap();
    fs::write(dir.join("cas/README"), "not a certificate\n").unwrap();
    let server = local(&["-m", "-s"], "./who", &[("CADIR", "cas")], dir.path());
    let out = tls_talk(
        addr(&server),
        client_config(dir.path(), Some("client")),
        b"",
    )
    .unwrap();
    assert!(String::from_utf8(out)
        .unwrap()
        .starts_with("dn=/O=Test Org/CN=client\n"));
    let r = tls_talk(addr(&server), client_config(dir.path(), Some("rogue")), b"");
    assert!(r.is_err() || r == Ok(Vec::new()), "rogue served: {r:?}");
}

/// `SSL_CLIENT_S_DN` for subjects with the attribute types OpenSSL names
/// (postalCode, businessCategory, jurisdictionC, pseudonym...), `/` and `+`
/// in values, multi-valued RDNs, UTF-8, BMPString and T61String values: as
/// `openssl x509 -subject -nameopt compat` (OpenSSL's one-line form, which
/// ucspi-ssl's sslserver sets) writes them.
#[test]
fn client_subjects_as_openssl_writes_them_on_one_line() {
    let dir = TempDir::new("ssl-dn");
    certs(dir.path());
    fs::write(
        dir.join("ext.cnf"),
        "basicConstraints=CA:FALSE\nextendedKeyUsage=clientAuth\n",
    )
    .unwrap();
    // T61String and BMPString for what is not ASCII, as OpenSSL's default
    // string mask chooses.
    fs::write(
        dir.join("mask.cnf"),
        "[req]\ndistinguished_name=dn\nstring_mask=default\n[dn]\n",
    )
    .unwrap();
    let subjects = [
        (
            "",
            "/C=DE/postalCode=12345/businessCategory=x\\/y/name=Nm/jurisdictionC=US",
        ),
        (
            "-multivalue-rdn",
            "/CN=ab\\/c+OU=u1+O=a\\+b/serialNumber=9/title=T",
        ),
        (
            "",
            "/emailAddress=a@b.c/DC=com/UID=jo/uid=u2/initials=J/dnQualifier=q/pseudonym=P",
        ),
        (
            "",
            "/generationQualifier=III/description=d/organizationIdentifier=VATDE-1/role=r/mail=m@x",
        ),
        ("", "/CN=J\u{fc}rgen \u{c4}/O=Caf\u{e9}/OU=tab\tx"),
        (
            "-config mask.cnf",
            "/CN=J\u{fc}rgen/O=\u{3a9}mega \u{65e5}\u{672c}/OU=\u{1f600}",
        ),
    ];
    script(dir.join("who"), "#!/bin/sh\necho \"$SSL_CLIENT_S_DN\"\n");
    let server = local(&["-m", "-s"], "./who", &[("CAFILE", "ca.pem")], dir.path());
    for (i, (opts, subject)) in subjects.iter().enumerate() {
        sh(
            dir.path(),
            &format!(
                "set -e
                openssl req {opts} -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
                    -keyout s{i}.key -out s{i}.csr -utf8 -subj '{subject}' 2>/dev/null
                openssl x509 -req -in s{i}.csr -CA ca.pem -CAkey ca.key -CAcreateserial \
                    -days 2 -extfile ext.cnf -out s{i}.pem 2>/dev/null"
            ),
        );
        let want = Command::new("openssl")
            .args(["x509", "-noout", "-subject", "-nameopt", "compat", "-in"])
            .arg(format!("s{i}.pem"))
            .current_dir(dir.path())
            .output()
            .unwrap()
            .stdout;
        let got = tls_talk(
            addr(&server),
            client_config(dir.path(), Some(&format!("s{i}"))),
            b"",
        )
        .unwrap();
        assert_eq!(
            String::from_utf8_lossy(&got),
            String::from_utf8_lossy(&want[b"subject=".len()..]),
            "{subject}"
        );
    }
}

#[test]
fn starttls_with_n() {
    let dir = TempDir::new("ssl-n");
    certs(dir.path());
    // Plaintext first; on STARTTLS, `Y` to $SSLCTLFD, then the same fds
    // carry what TLS protects.
    script(
        dir.join("starttls"),
        "#!/bin/sh\nprintf '220 plain %s %s %s\\r\\n' \"$SSLCTLFD\" \"$SSLREADFD\" \"$SSLWRITEFD\"\n\
         read -r cmd\nprintf '220 go ahead (%s)\\r\\n' \"$cmd\"\nprintf Y >&3\n\
         read -r secret\necho \"secret: $secret\"\n",
    );
    let server = local(&["-n", "-v"], "./starttls", &[], dir.path());
    let mut sock = TcpStream::connect(addr(&server)).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let line = |s: &mut TcpStream| {
        let mut v = Vec::new();
        let mut b = [0u8; 1];
        while s.read(&mut b).unwrap() == 1 {
            v.push(b[0]);
            if b[0] == b'\n' {
                break;
            }
        }
        String::from_utf8(v).unwrap()
    };
    assert_eq!(line(&mut sock), "220 plain 3 0 1\r\n");
    // The ClientHello goes out right behind the command, before the
    // program has said `Y`: it must wait in the socket, not reach the
    // program as plaintext.
    sock.write_all(b"STARTTLS\r\n").unwrap();
    assert_eq!(line(&mut sock), "220 go ahead (STARTTLS\r)\r\n");
    let out = tls_over(sock, client_config(dir.path(), None), b"hush\n").unwrap();
    assert_eq!(String::from_utf8(out).unwrap(), "secret: hush\n");
    let log = ends(&server, 1);
    let pid = first_pid(&log, "ok");
    assert!(
        log.contains(&format!("sslserver: tls {pid} TLSv1.3 ")),
        "{log}"
    );
    assert!(
        log.contains(&format!("sslserver: end {pid} status 0\n")),
        "{log}"
    );
}

#[test]
fn starttls_hello_right_behind_the_command_waits_for_y() {
    let dir = TempDir::new("ssl-n-race");
    certs(dir.path());
    // The program is slow to say `Y`: the client's hello, sent at once,
    // must not reach it as plaintext.
    script(
        dir.join("slow"),
        "#!/bin/sh\nread -r cmd\nprintf '220 ok\\r\\n'\nsleep 0.3\nprintf Y >&3\n\
         read -r secret\necho \"secret: $secret\"\n",
    );
    let server = local(&["-n"], "./slow", &[], dir.path());
    let mut sock = TcpStream::connect(addr(&server)).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    sock.write_all(b"STARTTLS\r\n").unwrap();
    let mut ok = [0u8; 6];
    sock.read_exact(&mut ok).unwrap();
    assert_eq!(&ok, b"220 ok");
    let mut crlf = [0u8; 2];
    sock.read_exact(&mut crlf).unwrap();
    let out = tls_over(sock, client_config(dir.path(), None), b"late\n").unwrap();
    assert_eq!(String::from_utf8(out).unwrap(), "secret: late\n");
}

#[test]
fn certificates_at_start_are_checked() {
    let dir = TempDir::new("ssl-start");
    certs(dir.path());
    nix::unistd::mkfifo(
        &dir.join("fifo.pem"),
        nix::sys::stat::Mode::from_bits_truncate(0o600),
    )
    .unwrap();
    type Case<'a> = (&'a [(&'a str, &'a str)], &'a [&'a str], &'a str);
    let cases: &[Case] = &[
        (
            &[("CERTFILE", "old.pem"), ("KEYFILE", "old.key")],
            &[],
            "sslserver: fatal: certificate old.pem expired at 2020-01-02 00:00:00 UTC\n",
        ),
        (
            &[("KEYFILE", "other.key")],
            &[],
            "sslserver: fatal: key other.key does not match certificate server.pem\n",
        ),
        (
            &[("CERTFILE", "missing.pem")],
            &[],
            "sslserver: fatal: unable to load certificate missing.pem: file does not exist\n",
        ),
        (
            &[("CERTFILE", "fifo.pem")],
            &[],
            "sslserver: fatal: unable to load certificate fifo.pem: no certificate in it\n",
        ),
        (
            &[("KEYFILE", "ca.pem")],
            &[],
            "sslserver: fatal: unable to load key ca.pem: no private key in it\n",
        ),
        (
            &[("KEYFILE", "encrypted.key")],
            &[],
            "sslserver: fatal: unable to load key encrypted.key: the key is encrypted (give it without a passphrase)\n",
        ),
        (
            &[("KEYFILE", "encrypted-ec.key")],
            &[],
            "sslserver: fatal: unable to load key encrypted-ec.key: the key is encrypted (give it without a passphrase)\n",
        ),
        (
            &[("CERTFILE", "")],
            &[],
            "sslserver: fatal: unable to load certificate: $CERTFILE is not set\n",
        ),
        (
            &[],
            &["-m"],
            "sslserver: fatal: unable to load client CAs: -m needs $CAFILE or $CADIR\n",
        ),
    ];
    for (env, opts, want) in cases {
        let o = Command::new(SSLSERVER)
            .args(*opts)
            .args(["-1", "127.0.0.1", "0", "true"])
            .env("CERTFILE", "server.pem")
            .env("KEYFILE", "server.key")
            .envs(env.iter().copied())
            .current_dir(dir.path())
            .output()
            .unwrap();
        assert_eq!(
            (o.status.code(), String::from_utf8_lossy(&o.stderr).as_ref()),
            (Some(111), *want),
            "{env:?} {opts:?}"
        );
        assert!(o.stdout.is_empty(), "a port was printed for {env:?}");
    }
    // A usage error is tcpserver's, with sslserver's options.
    let o = Command::new(SSLSERVER)
        .args(["-Z", "0", "0", "true"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(100));
    assert_eq!(
        String::from_utf8_lossy(&o.stderr),
        "sslserver: illegal option -- Z\nsslserver: usage: sslserver [ -461UXpPhHrRoOdDqQveEsSnNmM ] [ -c limit ] [ -x rules.cdb ] [ -B banner ] [ -g gid ] [ -u uid ] [ -b backlog ] [ -l localname ] [ -t timeout ] [ -T ssltimeout ] [ -I interface ] host port program\n"
    );
}

#[test]
fn garbage_stalls_and_random_bytes_cost_one_connection() {
    let dir = TempDir::new("ssl-junk");
    certs(dir.path());
    script(dir.join("hello"), "#!/bin/sh\necho hello\n");
    let mut server = local(&["-v", "-T", "1"], "./hello", &[], dir.path());
    let addr = addr(&server);
    let raw = move |bytes: &[u8], close: bool| {
        let mut s = TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let _ = s.write_all(bytes);
        if close {
            let _ = s.shutdown(std::net::Shutdown::Write);
        }
        let mut out = Vec::new();
        let _ = s.read_to_end(&mut out);
        out
    };
    // Plain HTTP instead of a ClientHello: an alert at most, never the
    // program's output.
    let out = raw(b"GET / HTTP/1.0\r\n\r\n", true);
    assert!(!out.windows(5).any(|w| w == b"hello"), "{out:?}");
    // A hello cut short, then silence: dropped at the -T deadline.
    let t = Instant::now();
    let out = raw(&[0x16, 0x03, 0x01, 0x00, 0xf0, 0x01, 0x00], false);
    let took = t.elapsed();
    assert!(out.is_empty(), "{out:?}");
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_secs(5),
        "{took:?}"
    );
    // Random byte strings, eight clients at a time.
    let n = cases(1000);
    let per = n.div_ceil(8);
    let threads: Vec<_> = (0..8u64)
        .map(|t| {
            std::thread::spawn(move || {
                let mut rng = Rand::new(0x5e55 + t);
                for _ in 0..per {
                    let len = 1 + rng.below(600);
                    let mut b = rng.bytes(len);
                    if rng.below(2) == 0 {
                        // Often a plausible record header, to get further in.
                        b[0] = 0x16;
                        if len > 2 {
                            b[1] = 3;
                            b[2] = 1;
                        }
                    }
                    let out = raw(&b, true);
                    assert!(!out.windows(5).any(|w| w == b"hello"));
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    // Still serving.
    let out = tls_talk(addr, client_config(dir.path(), None), b"").unwrap();
    assert_eq!(out, b"hello\n");
    let log = ends(&server, 2 + 8 * per + 1);
    assert!(
        server.child.try_wait().unwrap().is_none(),
        "the server exited:\n{log}"
    );
    let warnings = log
        .lines()
        .filter(|l| {
            l.starts_with("sslserver: warning: dropping connection, unable to accept SSL: ")
        })
        .count();
    assert_eq!(warnings, 2 + 8 * per, "one warning per bad client");
    assert!(log.contains("unable to accept SSL: timed out\n"), "{log}");
}

/// `-T` is ucspi-ssl's `unsigned int`: seconds modulo 2^32. `-T 4294967297`
/// drops a stalled hello after one second; `-T 18446744073709551615` (whose
/// deadline overflowed ours: the TLS process panicked, every connection
/// lost) serves.
#[test]
fn handshake_timeout_is_taken_modulo_2_32() {
    let dir = TempDir::new("ssl-wrap");
    certs(dir.path());
    script(dir.join("hello"), "#!/bin/sh\necho hello\n");
    let server = local(&["-T", "4294967297"], "./hello", &[], dir.path());
    let mut s = TcpStream::connect(addr(&server)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let t = Instant::now();
    s.write_all(&[0x16, 0x03, 0x01, 0x00, 0xf0, 0x01, 0x00])
        .unwrap();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    let took = t.elapsed();
    assert!(out.is_empty(), "{out:?}");
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_secs(5),
        "{took:?}"
    );
    let server = local(&["-T", "18446744073709551615"], "./hello", &[], dir.path());
    let out = tls_talk(addr(&server), client_config(dir.path(), None), b"");
    assert_eq!(out, Ok(b"hello\n".to_vec()), "{}", server.log());
}

#[test]
fn the_program_holds_no_key() {
    let dir = TempDir::new("ssl-key");
    certs(dir.path());
    // The key's DER bytes, to look for in the program's memory.
    sh(
        dir.path(),
        "openssl pkey -in server.key -outform der -out server.der",
    );
    let der = fs::read(dir.join("server.der")).unwrap();
    let secret = &der[der.len() - 40..];
    script(
        dir.join("hold"),
        "#!/bin/sh\necho $$ > prog.pid\nread -r line\necho done\n",
    );
    let server = local(&[], "./hold", &[], dir.path());
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let conn = rustls::ClientConnection::new(client_config(dir.path(), None), name).unwrap();
    let sock = TcpStream::connect(addr(&server)).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let mut s = rustls::StreamOwned::new(conn, sock);
    s.flush().unwrap();
    let pidfile = dir.join("prog.pid");
    assert!(wait_until(10.0, || fs::read_to_string(&pidfile)
        .is_ok_and(|p| p.ends_with('\n'))));
    let pid = fs::read_to_string(&pidfile).unwrap().trim().to_string();
    let environ = fs::read(format!("/proc/{pid}/environ")).unwrap();
    assert!(!environ.windows(11).any(|w| w == b"PRIVATE KEY"));
    assert!(!environ.windows(secret.len()).any(|w| w == secret));
    for fd in fs::read_dir(format!("/proc/{pid}/fd")).unwrap() {
        let target = fs::read_link(fd.unwrap().path()).unwrap();
        let t = target.to_string_lossy();
        assert!(!t.ends_with(".key") && !t.ends_with(".pem"), "open: {t}");
    }
    // Its whole memory: no byte string of the key.
    let maps = fs::read_to_string(format!("/proc/{pid}/maps")).unwrap();
    let mut mem = fs::File::open(format!("/proc/{pid}/mem")).unwrap();
    let mut seen = 0;
    for l in maps.lines() {
        let (range, rest) = l.split_once(' ').unwrap();
        if !rest.starts_with('r') {
            continue;
        }
        let (a, b) = range.split_once('-').unwrap();
        let (a, b) = (
            u64::from_str_radix(a, 16).unwrap(),
            u64::from_str_radix(b, 16).unwrap(),
        );
        let mut buf = vec![0u8; (b - a) as usize];
        use std::os::unix::fs::FileExt;
        if mem.read_exact_at(&mut buf, a).is_ok() {
            seen += buf.len();
            assert!(
                !buf.windows(secret.len()).any(|w| w == secret),
                "key bytes in the program's memory at {l}"
            );
        }
        let _ = mem.read(&mut []);
    }
    assert!(seen > 0, "no memory read");
    s.write_all(b"go\n").unwrap();
    s.conn.send_close_notify();
    let _ = s.flush();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    assert_eq!(out, b"done\n");
}

#[test]
fn the_qmail_smtpsd_template_serves_smtps() {
    let dir = TempDir::new("ssl-qmail");
    certs(dir.path());
    let d = dir.path().display().to_string();
    // The template, with its paths moved under the test directory, a free
    // port, the account nobody, and a stand-in for qmail-smtpd.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let template = fs::read_to_string(format!(
        "{}/../examples/service/qmail-smtpsd/run",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    let run = template
        .replace(
            "/var/qmail/control/servercert.pem",
            &format!("{d}/server.pem"),
        )
        .replace(
            "/var/qmail/control/servercert.key",
            &format!("{d}/server.key"),
        )
        .replace("/etc/tcp.smtp.cdb", &format!("{d}/tcp.smtp.cdb"))
        .replace("/var/qmail/bin/qmail-smtpd", &format!("{d}/qmail-smtpd"))
        .replace("envuidgid qmaild", "envuidgid nobody")
        .replace(" 0 465 ", &format!(" 127.0.0.1 {port} "));
    assert_ne!(run, template);
    script(dir.join("run"), &run);
    script(
        dir.join("qmail-smtpd"),
        "#!/bin/sh\nprintf '220 stand-in ESMTP %s %s\\r\\n' \"$(id -u)\" \"$TCPREMOTEIP\"\n",
    );
    compile_rules(
        SSLSERVER,
        dir.path(),
        "tcp.smtp.cdb",
        "127.:allow,RELAYCLIENT=\"\"\n:allow\n",
    );
    let bin = Path::new(SSLSERVER).parent().unwrap().display().to_string();
    // fd 3 open, as supervise gives it with notification-fd: the port
    // printed there is the readiness line.
    let mut child = Command::new("sh")
        .args(["-c", "exec ./run 3>&1"])
        .env("PATH", format!("{bin}:/usr/bin:/bin"))
        .current_dir(dir.path())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut ready = String::new();
    out.read_line(&mut ready).unwrap();
    let _kill = KillOnDrop(child.id());
    assert_eq!(ready, format!("{port}\n"));
    let nobody = Command::new("id").args(["-u", "nobody"]).output().unwrap();
    let nobody = String::from_utf8(nobody.stdout).unwrap();
    let got = tls_talk(
        SocketAddr::from(([127, 0, 0, 1], port)),
        client_config(dir.path(), None),
        b"QUIT\r\n",
    )
    .unwrap();
    assert_eq!(
        String::from_utf8(got).unwrap(),
        format!("220 stand-in ESMTP {} 127.0.0.1\r\n", nobody.trim())
    );
    let mut log = String::new();
    assert!(wait_until(10.0, || {
        let mut l = String::new();
        let _ = out.read_line(&mut l);
        log.push_str(&l);
        log.contains(" end ")
    }));
    assert!(log.contains("sslserver: tls "), "{log}");
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn banner_inside_tls_and_per_ip_limit_as_tcpserver() {
    let dir = TempDir::new("ssl-limit");
    certs(dir.path());
    script(
        dir.join("hold"),
        "#!/bin/sh\necho in\nread -r x\necho out\n",
    );
    // DIEMSG is set, but a TLS client would read plaintext as garbage: the
    // client over the limit is only closed.
    compile_rules(
        SSLSERVER,
        dir.path(),
        "rules.cdb",
        ":allow,DIEMSG=\"421 too many\"\n",
    );
    let server = local(
        &["-v", "-C", "1", "-B", "welcome\n", "-x", "rules.cdb"],
        "./hold",
        &[],
        dir.path(),
    );
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let conn = rustls::ClientConnection::new(client_config(dir.path(), None), name).unwrap();
    let sock = TcpStream::connect(addr(&server)).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let mut first = rustls::StreamOwned::new(conn, sock);
    let mut got = Vec::new();
    let mut b = [0u8; 64];
    while got.len() < b"welcome\nin\n".len() {
        let n = first.read(&mut b).unwrap();
        assert!(n > 0, "{got:?}");
        got.extend_from_slice(&b[..n]);
    }
    assert_eq!(got, b"welcome\nin\n");
    // A second connection from the same address: closed at once, nothing
    // written to it.
    let mut second = TcpStream::connect(addr(&server)).unwrap();
    second
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let mut rest = Vec::new();
    let _ = second.read_to_end(&mut rest);
    assert_eq!(rest, b"");
    first.write_all(b"x\n").unwrap();
    first.conn.send_close_notify();
    let _ = first.flush();
    let mut out = Vec::new();
    let _ = first.read_to_end(&mut out);
    assert_eq!(out, b"out\n");
    let log = ends(&server, 2);
    assert!(
        log.contains("sslserver: per-ip limit 127.0.0.1 1/1\n"),
        "{log}"
    );
}

#[test]
fn out_of_processes_after_the_handshake_drops_the_connection_as_tcpserver() {
    // Under a uid of its own with a process limit of two, the server (one)
    // makes the connection's TLS process (two), which cannot make the
    // program's: the line is tcpserver's (and ucspi-ssl's) `unable to
    // fork`, and the server stays.
    let dir = TempDir::new("ssl-nproc");
    certs(dir.path());
    let env = [("CERTFILE", "server.pem"), ("KEYFILE", "server.key")];
    let mut args = vec!["-v", "-u", "61234", "-g", "61234", "-R", "-H", "-l"];
    args.extend(["localhost", "127.0.0.1", "0", "/bin/echo", "yes"]);
    let mut s = Listening::start_under(
        &["prlimit", "--nproc=2:2"],
        SSLSERVER,
        &args,
        &env,
        dir.path(),
    );
    let dropped = "sslserver: warning: dropping connection, unable to fork: temporary failure\n";
    for n in 1..=2 {
        // The handshake succeeds; then the connection is closed.
        let got = tls_talk(addr(&s), client_config(dir.path(), None), b"");
        assert!(got.as_ref().map_or(true, Vec::is_empty), "{got:?}");
        let log = ends(&s, n);
        // The TLS process's line, then its warning: its spawn failed.
        let tls = log.lines().filter(|l| l.contains(" tls ")).count();
        assert_eq!((tls, log.matches(dropped).count()), (n, n), "{log}");
        let after = &log[log.rfind(" tls ").unwrap()..];
        assert!(after.contains(dropped), "{log}");
    }
    assert!(s.child.try_wait().unwrap().is_none(), "the server is gone");
}

/// Connects with TLS and, at once and in both directions, sends `input`
/// (then close_notify, the client's half-close) and reads until the
/// server's close_notify or end of file, on one nonblocking socket: the
/// bytes received, or what ended the session. Unlike [`tls_talk`] it
/// never writes while the server waits for it to read, so a program that
/// answers as it reads (`cat`) can stream more than the buffers hold.
fn tls_stream(
    addr: SocketAddr,
    config: Arc<rustls::ClientConfig>,
    input: &[u8],
    secs: u64,
) -> Result<Vec<u8>, String> {
    use std::io::ErrorKind::WouldBlock;
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let mut conn = rustls::ClientConnection::new(config, name).unwrap();
    let mut sock = TcpStream::connect(addr).unwrap();
    sock.set_nonblocking(true).unwrap();
    let deadline = Instant::now() + Duration::from_secs(secs);
    let (mut sent, mut closed, mut out) = (0, false, Vec::new());
    let mut buf = vec![0u8; 1 << 16];
    loop {
        if Instant::now() > deadline {
            return Err(format!("stalled: {sent} sent, {} received", out.len()));
        }
        let mut moved = false;
        if !conn.is_handshaking() && sent < input.len() && !conn.wants_write() {
            let end = input.len().min(sent + (1 << 14));
            sent += conn.writer().write(&input[sent..end]).unwrap();
            moved = true;
        }
        if !conn.is_handshaking() && sent == input.len() && !closed {
            conn.send_close_notify();
            closed = true;
        }
        while conn.wants_write() {
            match conn.write_tls(&mut sock) {
                Ok(_) => moved = true,
                Err(e) if e.kind() == WouldBlock => break,
                Err(e) => return Err(format!("write: {e}")),
            }
        }
        match conn.read_tls(&mut sock) {
            Ok(0) => return Ok(out),
            Ok(_) => {
                moved = true;
                let state = conn.process_new_packets().map_err(|e| e.to_string())?;
                let mut n = state.plaintext_bytes_to_read();
                while n > 0 {
                    let k = conn.reader().read(&mut buf[..n.min(1 << 16)]).unwrap();
                    out.extend_from_slice(&buf[..k]);
                    n -= k;
                }
                if state.peer_has_closed() {
                    return Ok(out);
                }
            }
            Err(e) if e.kind() == WouldBlock => {}
            Err(e) => return Err(format!("read: {e}")),
        }
        if !moved {
            std::thread::sleep(Duration::from_millis(1));
        }
    }
}

#[test]
fn large_streams_both_ways_through_the_relay() {
    let dir = TempDir::new("ssl-stream");
    certs(dir.path());
    let config = client_config(dir.path(), None);
    let input = Rand::new(7).bytes(8 << 20);
    // An echo: the program writes as it reads, so both directions are
    // full at once; the client's half-close ends it, and every byte comes
    // back in order.
    let echo = local(&["-v"], "cat", &[], dir.path());
    let got = tls_stream(addr(&echo), config.clone(), &input, 60).unwrap();
    assert_eq!(got.len(), input.len());
    assert!(got == input, "the echo differs");
    ends(&echo, 1);
    // A program that reads all, then answers: the half-close reaches it
    // as end of file, and its answer still goes out.
    script(dir.join("count"), "#!/bin/sh\nwc -c\n");
    let count = local(&["-v"], "./count", &[], dir.path());
    let got = tls_stream(addr(&count), config.clone(), &input, 60).unwrap();
    assert_eq!(String::from_utf8_lossy(&got).trim(), (8 << 20).to_string());
    ends(&count, 1);
    // A program that writes much without reading: all of it arrives, and
    // its exit ends the session.
    script(dir.join("spew"), "#!/bin/sh\nhead -c 33554432 /dev/zero\n");
    let spew = local(&["-v"], "./spew", &[], dir.path());
    let got = tls_stream(addr(&spew), config, b"", 60).unwrap();
    assert_eq!(got.len(), 32 << 20);
    assert!(got.iter().all(|&b| b == 0));
    let log = ends(&spew, 1);
    assert!(log.contains(" status 0\n"), "{log}");
}

/// A program killed by a real-time signal: the TLS process ends by the
/// same signal, so the log says `status SIG` as for any other signal (nix's
/// wait status cannot hold such a signal: the TLS process said `unable to
/// wait` and exited 111).
#[test]
fn a_program_killed_by_a_real_time_signal_ends_the_connection_alike() {
    let dir = TempDir::new("ssl-rt-killed");
    certs(dir.path());
    let sig = nix::libc::SIGRTMIN() + 3;
    script(
        dir.join("die"),
        &format!("#!/bin/sh\necho hi\nkill -{sig} $$\n"),
    );
    let server = local(&["-v"], "./die", &[], dir.path());
    let out = tls_talk(addr(&server), client_config(dir.path(), None), b"").unwrap();
    assert_eq!(out, b"hi\n");
    let log = ends(&server, 1);
    let pid = first_pid(&log, "ok");
    assert!(
        log.contains(&format!("sslserver: end {pid} status {sig}\n")),
        "{log}"
    );
    assert!(!log.contains("unable to wait"), "{log}");
}
