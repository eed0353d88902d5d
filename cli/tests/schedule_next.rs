//! Runs the built `clusterctl` for `schedule next`.

use std::process::Command;

fn clusterctl(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_clusterctl"))
        .args(args)
        .output()
        .expect("run clusterctl")
}

#[test]
fn issue_example_json() {
    let out = clusterctl(&[
        "schedule",
        "next",
        "30 2 * * *",
        "--tz",
        "America/New_York",
        "--after",
        "2026-03-07T12:00:00Z",
        "--count",
        "3",
        "-o",
        "json",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "[\"2026-03-08T07:00:00Z\",\"2026-03-09T06:30:00Z\",\"2026-03-10T06:30:00Z\"]\n"
    );
}

#[test]
fn global_output_flag_before_subcommand_and_text() {
    let out = clusterctl(&[
        "-o",
        "json",
        "schedule",
        "next",
        "@every 10s",
        "--after",
        "2026-03-07T12:00:05Z",
        "--count",
        "1",
    ]);
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "[\"2026-03-07T12:00:10Z\"]\n"
    );
    let out = clusterctl(&[
        "schedule",
        "next",
        "30 2 * * *",
        "--tz",
        "America/New_York",
        "--after",
        "2026-03-07T12:00:00Z",
        "--count",
        "1",
    ]);
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "2026-03-08 03:00:00  EDT (UTC-04:00)  2026-03-08T07:00:00Z\n"
    );
}

#[test]
fn bad_schedule_fails_with_field_and_nothing_on_stdout() {
    let out = clusterctl(&["schedule", "next", "0 0 32 * *", "-o", "json"]);
    assert!(!out.status.success());
    assert!(out.stdout.is_empty());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("schedule: field 3 (day of month): 32 is out of range 1-31"),
        "{err}"
    );
    let out = clusterctl(&["schedule", "next", "* * * * *", "--tz", "Mars/Base"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("Mars/Base"));
}
