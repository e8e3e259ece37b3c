//! What jutsu writes for a shell stays one word per argument.

use crate::common;

#[test]
fn a_crontab_for_a_folder_with_a_space_quotes_it_and_bash_reads_it_as_one_folder() {
    let (_dir, config) = common::paper_config("");
    let (code, stdout, stderr) = common::run(common::jutsu().args([
        "-c",
        config.to_str().unwrap(),
        "schedule",
        "crontab",
        "--zone",
        "America/New_York",
        "--dir",
        "/opt/my jutsu",
    ]));
    assert_eq!(code, 0, "{stderr}");
    let line = stdout
        .lines()
        .find(|l| l.contains("./jutsu trade"))
        .expect("a trade line");
    assert!(line.contains("cd '/opt/my jutsu' &&"), "{line}");
    // The command part, as cron hands it to the shell: `cd` gets one argument.
    let command = line.splitn(6, ' ').nth(5).unwrap();
    let probe = command
        .replace("cd ", "printf '%s|' ")
        .replace(" && set -a", " ; exit 0 && set -a");
    let out = std::process::Command::new("bash")
        .args(["-c", &probe])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "/opt/my jutsu|");
}
