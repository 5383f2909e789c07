//! update-service, installed by install.sh with its paths written in, on a
//! scan directory of the test's ($SVDIR, as Debian's) with a real
//! supervise: Debian's command line, messages and exit codes.

use std::fs;
use std::path::Path;
use std::process::Command;

use testutil::*;

fn us(bin: &Path, scan: &Path, args: &[&str]) -> Out {
    let o = Command::new(bin.join("update-service"))
        .args(args)
        .env("SVDIR", scan)
        .output()
        .unwrap();
    Out::from(o)
}

#[test]
fn add_list_check_remove() {
    let t = TempDir::new("update-service");
    let prefix = t.join("prefix");
    let bin = install_toolkit(&bin_dir(), &prefix, &["--scandir", "/etc/service"]);
    // The scan directory and bindir were written in at install time.
    let text = fs::read_to_string(bin.join("update-service")).unwrap();
    assert!(text.contains("\nscandir=/etc/service\n"), "{text}");
    assert!(text.contains(&format!("\nbindir={}\n", bin.display())));

    let scan = t.join("service");
    fs::create_dir(&scan).unwrap();
    let svc = t.join("sv/app");
    script(svc.join("run"), "#!/bin/sh\nexec sleep 100000\n");
    let s = |args: &[&str]| us(&bin, &scan, args);
    let dir = svc.to_str().unwrap();
    let root = nix::unistd::Uid::effective().is_root();

    assert_eq!(s(&["--check", "app"]), Out::new(1, "", ""));
    assert_eq!(s(&["--list"]), Out::new(0, "", ""));
    assert_eq!(
        s(&["--list", "app"]),
        Out::new(1, "", "Service app not registered.\n\n")
    );
    if !root {
        assert_eq!(
            s(&["--add", dir]),
            Out::new(
                1,
                "",
                "update-service: fatal: update-service -a must be run by root.\n\n"
            )
        );
        return;
    }
    assert_eq!(s(&["--add", dir]), Out::new(0, "Service app added.\n", ""));
    assert_eq!(fs::read_link(scan.join("app")).unwrap(), svc);
    assert_eq!(s(&["-c", "app"]), Out::new(0, "", ""));
    assert_eq!(s(&["--list"]), Out::new(0, "app\n", ""));
    assert_eq!(
        s(&["-l", "app"]),
        Out::new(0, &format!("app -> {dir}\n"), "")
    );
    // Again: already there, fine (said so, as Debian's). Under another
    // name too.
    assert_eq!(
        s(&["-a", &format!("{dir}/")]),
        Out::new(0, "Service app already added.\n", "")
    );
    assert_eq!(
        s(&["-a", dir, "app2"]),
        Out::new(0, "Service app2 added.\n", "")
    );
    assert_eq!(s(&["--list"]), Out::new(0, "app\napp2\n", ""));
    let other = t.join("sv/other");
    script(other.join("run"), "#!/bin/sh\nexec sleep 100000\n");
    assert_eq!(
        s(&["-a", other.to_str().unwrap(), "app"]),
        Out::new(
            1,
            "",
            &format!(
                "update-service: fatal: {}/app exists, but doesn't point to {}.\n\n",
                scan.display(),
                other.display()
            )
        )
    );

    // A running service: --remove takes the link away and stops it and its
    // supervise; a directory a supervise runs on cannot be added.
    let mut sup = Command::new(bin.join("supervise"))
        .arg(&svc)
        .stdin(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let _kill = KillOnDrop(sup.id());
    let up = || {
        Command::new(bin.join("svok"))
            .arg(&svc)
            .status()
            .unwrap()
            .success()
    };
    assert!(wait_until(10.0, up));
    assert_eq!(
        s(&["-a", dir, "app3"]),
        Out::new(
            1,
            "",
            &format!("update-service: fatal: {dir} is currently controlled by a supervise(8) process.\n\n")
        )
    );
    assert_eq!(
        s(&["--remove", dir, "app2"]),
        Out::new(
            0,
            "Service app2 removed, the service daemon received the TERM and CONT signals.\n",
            ""
        )
    );
    assert_eq!(
        exit_within(&mut sup, 10.0),
        Some(0),
        "supervise did not exit"
    );
    // Its supervise is gone already: svc warns, as for Debian's.
    let o = s(&["-r", dir]);
    assert_eq!(o.code, 0, "{o:?}");
    assert!(o.stdout.starts_with("Service app removed"), "{o:?}");
    assert!(fs::symlink_metadata(scan.join("app")).is_err());
    assert_eq!(s(&["--check", "app"]).code, 1);
    assert_eq!(
        s(&["--remove", dir]),
        Out::new(
            1,
            "",
            &format!(
                "update-service: warning: {}/app does not exist.\n\n",
                scan.display()
            )
        )
    );

    // Usage and bad arguments.
    let usage = "Usage: update-service --add|--remove <service-directory> [<service-name>]\n       update-service --list|--check [<service-name>]\n\n";
    for bad in [&[][..], &["add"], &["--frobnicate"], &["--add"]] {
        assert_eq!(s(bad), Out::new(1, "", usage), "{bad:?}");
    }
    let fatal = |m: &str| Out::new(1, "", &format!("update-service: fatal: {m}\n\n"));
    assert_eq!(
        s(&["--add", dir, ".hidden"]),
        fatal("The <service-name> must not start with a dot.")
    );
    assert_eq!(
        s(&["--add", "/nonexistent/x"]),
        fatal("/nonexistent/x does not exist, or is not a directory.")
    );
    let rel = Command::new(bin.join("update-service"))
        .args(["--add", "app"])
        .current_dir(t.join("sv"))
        .env("SVDIR", &scan)
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&rel.stderr),
        "update-service: fatal: The <service-directory> must start with a slash.\n\n"
    );
}

/// Debian's update-service (daemontools-run, unpacked, never installed)
/// and ours, side by side on the same arguments, each on a fresh scan
/// directory holding a registered service, a link to nothing and a plain
/// directory: the same output, exit code and links after. Not compared:
/// `--add` over a link to nothing (Debian's `ln` fails with its own
/// message under `set -e`; ours says the link points elsewhere) and
/// `--add` of a supervised directory (Debian's asks runit's `sv`, which is
/// not there, and adds it); its manual page says so.
#[test]
fn arguments_as_debians() {
    let t = TempDir::new("update-service-debian");
    let debian = t.join("debian");
    unpack_debs(&["daemontools-run"], &debian);
    let theirs = debian.join("usr/sbin");
    let ours = install_toolkit(
        &bin_dir(),
        &t.join("prefix"),
        &["--scandir", "/etc/service"],
    );
    let d = t.join("d");
    for s in ["svc1/log", ".dot", "svc2"] {
        fs::create_dir_all(d.join(s)).unwrap();
    }
    let scan = t.join("service");
    let path = format!("{}:{}", ours.display(), std::env::var("PATH").unwrap());
    let run = |bin: &Path, args: &[String]| {
        let _ = fs::remove_dir_all(&scan);
        fs::create_dir_all(scan.join("plain")).unwrap();
        std::os::unix::fs::symlink(d.join("svc2"), scan.join("svc2")).unwrap();
        std::os::unix::fs::symlink(t.join("nowhere"), scan.join("dangling")).unwrap();
        let o = Command::new("sh")
            .arg(bin.join("update-service"))
            .args(args)
            .env("SVDIR", &scan)
            .env("PATH", &path)
            .current_dir(t.path())
            .output()
            .unwrap();
        let mut links: Vec<String> = fs::read_dir(&scan)
            .unwrap()
            .map(|e| {
                let p = e.unwrap().path();
                let to =
                    fs::read_link(&p).map_or("a directory".into(), |l| l.display().to_string());
                format!("{} -> {to}", p.file_name().unwrap().to_string_lossy())
            })
            .collect();
        links.sort();
        (Out::from(o), links)
    };
    let dir = |s: &str| format!("{}/{s}", d.display());
    let cases: Vec<Vec<String>> = [
        "",
        "-x",
        "a SVC1",
        "-- SVC1",
        "- SVC1",
        "-x SVC1",
        "-x /nonexistent",
        "-x //",
        "--add",
        "-a SVC1",
        "-a SVC1/",
        "--add SVC1 other",
        "-a SVC1 .x",
        "-a SVC1 a/b",
        "-a DOT",
        "-a SVC2",
        "-a SVC1 svc2",
        "-a SVC1 plain",
        "-a /",
        "-a //",
        "-a relative",
        "-r SVC2",
        "--remove SVC2/ svc2",
        "-r SVC1",
        "-r SVC1 svc2",
        "-r SVC1 dangling",
        "-r SVC1 plain",
        "-r //",
        "-l",
        "--list svc2",
        "-l plain",
        "-l dangling",
        "-l nothing",
        "-l svc2 extra",
        "-c",
        "--check svc2",
        "-c plain",
        "-c dangling",
        "-c nothing",
    ]
    .iter()
    .map(|c| {
        c.split_whitespace()
            .map(|w| match w {
                "SVC1" => dir("svc1"),
                "SVC1/" => dir("svc1/"),
                "SVC2" => dir("svc2"),
                "SVC2/" => dir("svc2/"),
                "DOT" => dir(".dot"),
                w => w.to_string(),
            })
            .collect()
    })
    .collect();
    fs::create_dir_all(t.join("relative")).unwrap();
    for args in &cases {
        assert_eq!(
            run(&ours, args),
            run(&theirs, args),
            "update-service {args:?}"
        );
    }
}
