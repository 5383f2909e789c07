//! update-service, installed by install.sh with its paths written in, on a
//! scan directory of the test's ($SVSCANDIR) with a real supervise.

use std::fs;
use std::path::Path;
use std::process::Command;

use testutil::*;

fn us(bin: &Path, scan: &Path, args: &[&str]) -> Out {
    let o = Command::new(bin.join("update-service"))
        .args(args)
        .env("SVSCANDIR", scan)
        .output()
        .unwrap();
    Out {
        code: o.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
    }
}

#[test]
fn add_list_check_remove() {
    let t = TempDir::new("update-service");
    let prefix = t.join("prefix");
    let bin = install_toolkit(&bin_dir(), &prefix, &["--scandir", "/etc/service"]);
    // The scan directory was written in at install time.
    let text = fs::read_to_string(bin.join("update-service")).unwrap();
    assert!(text.contains("\nscandir=/etc/service\n"), "{text}");
    assert!(text.contains(&format!("\nbindir={}\n", bin.display())));

    let scan = t.join("service");
    fs::create_dir(&scan).unwrap();
    let svc = t.join("sv/app");
    script(svc.join("run"), "#!/bin/sh\nexec sleep 100000\n");
    let s = |args: &[&str]| us(&bin, &scan, args);
    let dir = svc.to_str().unwrap();

    assert_eq!(s(&["--check", "app"]).code, 1);
    assert_eq!(s(&["--list"]), Out::new(0, "", ""));
    assert_eq!(s(&["--add", dir]), Out::new(0, "", ""));
    assert_eq!(fs::read_link(scan.join("app")).unwrap(), svc);
    assert_eq!(s(&["-c", "app"]).code, 0);
    assert_eq!(s(&["--list"]), Out::new(0, "app\n", ""));
    assert_eq!(
        s(&["--list", "app"]),
        Out::new(0, &format!("app -> {dir}\n"), "")
    );
    // Under another name too; the same name twice is refused.
    assert_eq!(s(&["-a", dir, "app2"]).code, 0);
    assert_eq!(s(&["--list"]), Out::new(0, "app\napp2\n", ""));
    assert_eq!(
        s(&["--add", dir]),
        Out::new(
            1,
            "",
            &format!(
                "update-service: service app already exists: {}/app\n",
                scan.display()
            )
        )
    );
    assert_eq!(s(&["-r", dir, "app2"]).code, 0);

    // A running service: --remove takes the link away and stops it and its
    // supervise.
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
    assert_eq!(s(&["--remove", dir]), Out::new(0, "", ""));
    assert!(!scan.join("app").exists() && fs::symlink_metadata(scan.join("app")).is_err());
    assert_eq!(
        exit_within(&mut sup, 10.0),
        Some(0),
        "supervise did not exit"
    );
    assert_eq!(s(&["--check", "app"]).code, 1);
    assert_eq!(
        s(&["--remove", dir]),
        Out::new(
            1,
            "",
            &format!(
                "update-service: service app is not registered in {}\n",
                scan.display()
            )
        )
    );

    // Usage and bad names.
    let usage = "usage: update-service --add|--remove service-directory [service-name]\n       update-service --list|--check [service-name]\n";
    for bad in [&[][..], &["--check"], &["--frobnicate", "x"], &["--add"]] {
        assert_eq!(s(bad), Out::new(100, "", usage), "{bad:?}");
    }
    assert_eq!(
        s(&["--add", dir, ".hidden"]),
        Out::new(
            111,
            "",
            "update-service: fatal: bad service name: .hidden\n"
        )
    );
    assert_eq!(
        s(&["--add", "/nonexistent/x"]),
        Out::new(
            111,
            "",
            "update-service: fatal: no such directory: /nonexistent/x\n"
        )
    );
}
