//! The manual pages: install.sh puts one in PREFIX/share/man/man8 for every
//! program it installs, and each renders without a warning.

use std::fs;
use std::process::Command;

use testutil::*;

#[test]
fn every_installed_program_has_a_page_that_renders_cleanly() {
    let t = TempDir::new("e2e-man");
    let prefix = t.join("prefix");
    let bin = install_toolkit(&bin_dir(), &prefix, &[]);
    let man = prefix.join("share/man");
    let mut programs: Vec<String> = fs::read_dir(&bin)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    programs.sort();
    assert!(programs.len() >= 37, "{programs:?}");
    for p in &programs {
        let page = man.join(format!("man8/{p}.8"));
        assert!(page.exists(), "no manual page for {p}");
        let meta = fs::metadata(&page).unwrap();
        assert_eq!(
            std::os::unix::fs::PermissionsExt::mode(&meta.permissions()) & 0o777,
            0o644
        );
        // As `man svc` finds it: by name, in this manual tree.
        let o = Command::new("man")
            .args(["--warnings", "-M"])
            .arg(&man)
            .args(["8", p])
            .env("MANWIDTH", "80")
            .env("MANPAGER", "cat")
            .env("PAGER", "cat")
            .output()
            .expect("man (man-db) must be installed");
        let out = String::from_utf8_lossy(&o.stdout);
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(o.status.success(), "man 8 {p}: {err}");
        assert_eq!(err, "", "man 8 {p} warns");
        // The page names the program in its NAME section.
        let name_line = out
            .lines()
            .skip_while(|l| l.trim() != "NAME")
            .nth(1)
            .unwrap_or_default()
            .to_string();
        assert!(
            name_line.contains(p.as_str()),
            "man 8 {p}: NAME says {name_line:?}"
        );
        for section in ["SYNOPSIS", "DESCRIPTION"] {
            assert!(
                out.lines().any(|l| l.trim() == section),
                "man 8 {p}: no {section}"
            );
        }
    }
}
