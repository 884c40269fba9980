//! End-to-end: `couple --apply` and the coupling store — commit, rerun, concurrent runs,
//! `jobs`, `couplings export`, `uncouple` — with the real binary on the demo fixtures.

mod common;
use common::*;

use std::path::Path;
use std::process::{Command, Output};

fn job(dir: &Path, out: &str) -> serde_json::Value {
    let text = std::fs::read_to_string(dir.join(out).join("CUSTOMER/job.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn export(dir: &Path) -> Vec<String> {
    let out = coupler(
        &[
            "couplings",
            "export",
            "--config",
            "coupling.toml",
            "--mapping",
            "CUSTOMER",
        ],
        dir,
    );
    ok(&out).lines().skip(1).map(str::to_string).collect()
}

#[test]
fn apply_commits_once_and_a_rerun_couples_nothing_new() {
    let dir = demo();
    let d = dir.path();
    // A dry run leaves no store behind.
    ok(&coupler(
        &["couple", "--config", "coupling.toml", "--out", "dry"],
        d,
    ));
    assert!(!d.join("coupler.db").exists());

    apply(d, "a1");
    let first = job(d, "a1");
    assert_eq!(first["dry_run"], false);
    assert_eq!(first["outcomes"]["coupled"], 300);
    assert_eq!(first["store"]["inserted"], 300);
    assert_eq!(export(d).len(), 300);

    // Rerun: every coupled record is now already coupled (skipped); nothing new.
    apply(d, "a2");
    let second = job(d, "a2");
    assert_eq!(second["outcomes"]["coupled"], 0);
    assert_eq!(second["outcomes"]["skipped"], 302);
    assert_eq!(second["counters"]["coupled"], 0);
    assert_eq!(second["store"]["inserted"], 0);
    assert_eq!(export(d).len(), 300);

    // A dry run now sees the store's couplings but writes nothing to it.
    let jobs_before = ok(&coupler(
        &["jobs", "list", "--config", "coupling.toml", "--json"],
        d,
    ));
    ok(&coupler(
        &["couple", "--config", "coupling.toml", "--out", "dry2"],
        d,
    ));
    assert_eq!(job(d, "dry2")["outcomes"]["skipped"], 302);
    let jobs_after = ok(&coupler(
        &["jobs", "list", "--config", "coupling.toml", "--json"],
        d,
    ));
    assert_eq!(jobs_before, jobs_after);

    // jobs show reproduces the summary and the results of the first job.
    let id = first["job_id"].as_str().unwrap();
    let shown = ok(&coupler(
        &["jobs", "show", &id[..8], "--config", "coupling.toml"],
        d,
    ));
    assert!(shown.contains("applied, 329 local record(s)"), "{shown}");
    assert!(shown.contains("coupled                  300"), "{shown}");
    let results = ok(&coupler(
        &["jobs", "show", id, "--config", "coupling.toml", "--results"],
        d,
    ));
    assert_eq!(
        results,
        std::fs::read_to_string(d.join("a1/CUSTOMER/results.csv")).unwrap()
    );
}

#[test]
fn export_formats_and_uncouple() {
    let dir = demo();
    let d = dir.path();
    apply(d, "a");
    let bc = ok(&coupler(
        &[
            "couplings",
            "export",
            "--store",
            "coupler.db",
            "--mapping",
            "CUSTOMER",
            "--format",
            "bc",
            "--allow-non-guid",
        ],
        d,
    ));
    let mut lines = bc.lines();
    assert_eq!(lines.next(), Some("CRM ID,Integration ID,Table ID"));
    let first = lines.next().unwrap();
    assert!(first.ends_with(",18"), "{first}");
    assert_eq!(bc.lines().count(), 301);

    let couplings = export(d);
    let (local, integration) = couplings[0].split_once(',').unwrap();
    let integration = integration.split(',').next().unwrap().to_string();
    let out = coupler(
        &[
            "uncouple",
            "--config",
            "coupling.toml",
            "--mapping",
            "CUSTOMER",
            "--local-id",
            local,
        ],
        d,
    );
    assert!(ok(&out).starts_with("1 coupling(s) of mapping CUSTOMER removed"));
    assert_eq!(export(d).len(), 299);
    // The uncoupled record couples again on the next run, to the same account.
    apply(d, "b");
    assert_eq!(job(d, "b")["outcomes"]["coupled"], 1);
    let again = std::fs::read_to_string(d.join("b/CUSTOMER/couplings.csv")).unwrap();
    assert!(again.contains(&format!("{local},{integration}")), "{again}");
    let list = ok(&coupler(&["jobs", "list", "--config", "coupling.toml"], d));
    assert!(list.contains("uncoupling"), "{list}");

    let out = coupler(
        &[
            "uncouple",
            "--config",
            "coupling.toml",
            "--mapping",
            "CUSTOMER",
            "--all",
            "--yes",
        ],
        d,
    );
    assert!(ok(&out).starts_with("300 coupling(s)"));
    assert!(export(d).is_empty());
    let out = coupler(
        &[
            "uncouple",
            "--config",
            "coupling.toml",
            "--mapping",
            "CUSTOMER",
        ],
        d,
    );
    // Neither --local-id nor --all: a usage error (exit code 2) from clap.
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("<--local-id <ID>|--all>"));
}

#[test]
fn two_concurrent_apply_runs_never_double_couple() {
    let dir = demo();
    let d = dir.path();
    let spawn = |out: &str| {
        Command::new(env!("CARGO_BIN_EXE_coupler"))
            .args([
                "couple",
                "--config",
                "coupling.toml",
                "--out",
                out,
                "--apply",
                "--json",
            ])
            .current_dir(d)
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap()
    };
    let (mut a, mut b) = (spawn("ca"), spawn("cb"));
    assert!(a.wait().unwrap().success());
    assert!(b.wait().unwrap().success());
    let (ja, jb) = (job(d, "ca"), job(d, "cb"));
    // Each pair is booked by exactly one of the two jobs.
    let coupled =
        ja["outcomes"]["coupled"].as_u64().unwrap() + jb["outcomes"]["coupled"].as_u64().unwrap();
    assert_eq!(coupled, 300, "{ja}\n{jb}");
    let couplings = export(d);
    assert_eq!(couplings.len(), 300);
    let mut ids: Vec<&str> = couplings
        .iter()
        .map(|l| l.split(',').nth(1).unwrap())
        .collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 300);
}

#[test]
fn store_commands_explain_a_missing_store() {
    let dir = demo();
    let out = coupler(&["jobs", "list", "--config", "coupling.toml"], dir.path());
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(err.contains("no coupling store here yet"), "{err}");
    assert!(!dir.path().join("coupler.db").exists());
    std::fs::write(
        dir.path().join("junk.db"),
        b"not a database at all, just text",
    )
    .unwrap();
    let out = coupler(&["jobs", "list", "--store", "junk.db"], dir.path());
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("junk.db"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn sync_with_a_file_integration_side_writes_the_updates_as_files() {
    let dir = demo();
    let d = dir.path();
    let config = std::fs::read_to_string(d.join("coupling.toml")).unwrap();
    let config = config.replacen(
        "name = \"CUSTOMER\"",
        "name = \"CUSTOMER\"\nsync_after_coupling = true\nupdate_conflict_resolution = \"send\"",
        1,
    );
    std::fs::write(d.join("coupling.toml"), config).unwrap();
    ok(&coupler(
        &["couple", "--config", "coupling.toml", "--out", "dry"],
        d,
    ));
    let plan = std::fs::read_to_string(d.join("dry/CUSTOMER/sync-plan.csv")).unwrap();
    let updates = plan
        .lines()
        .filter(|l| l.contains(",to-integration,") && l.contains(",update,"))
        .count();
    assert!(updates > 0);
    assert!(!d.join("dry/CUSTOMER/integration-updates.csv").exists());
    apply(d, "a");
    let file = std::fs::read_to_string(d.join("a/CUSTOMER/integration-updates.csv")).unwrap();
    assert_eq!(file.lines().count(), updates + 1);
    assert!(file.starts_with("integration_id,field,new_value"));
    assert_eq!(
        job(d, "a")["sync"]["to_integration_updates"],
        updates as u64
    );
}

fn listing(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// Runs `coupler` as another OS user (uid/gid 65534, "nobody") — possible when the tests run
/// as root, as in CI.
#[cfg(unix)]
fn coupler_as_nobody(args: &[&str], cwd: &Path) -> Output {
    use std::os::unix::process::CommandExt;
    Command::new(env!("CARGO_BIN_EXE_coupler"))
        .args(args)
        .current_dir(cwd)
        .uid(65534)
        .gid(65534)
        .output()
        .expect("run coupler as nobody")
}

#[test]
fn a_dry_run_creates_nothing_beside_the_store_and_never_blocks_its_owner() {
    let dir = demo();
    let d = dir.path();
    let dry = ["couple", "--config", "coupling.toml", "--out", "dry"];
    apply(d, "a");
    let before: Vec<String> = listing(d)
        .into_iter()
        .filter(|n| n.starts_with("coupler.db"))
        .collect();
    assert_eq!(before, ["coupler.db"]);
    ok(&coupler(&dry, d));
    let after: Vec<String> = listing(d)
        .into_iter()
        .filter(|n| n.starts_with("coupler.db"))
        .collect();
    assert_eq!(after, before, "the dry run left files beside the store");

    // The same as another OS user who may read the store but not write it: the owner (root
    // here) applies, "nobody" runs the dry run. SQLite's read-only mode alone would leave
    // coupler.db-wal and coupler.db-shm behind, owned by nobody.
    #[cfg(unix)]
    {
        if is_root() {
            use std::os::unix::fs::PermissionsExt;
            let dir = demo();
            let d = dir.path();
            std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o777)).unwrap();
            apply(d, "a");
            let out = coupler_as_nobody(&dry, d);
            assert!(out.status.success(), "{}", text(&out.stderr));
            let files: Vec<String> = listing(d)
                .into_iter()
                .filter(|n| n.starts_with("coupler.db"))
                .collect();
            assert_eq!(files, ["coupler.db"], "another user's dry run left files");
            // The dry run saw the owner's couplings.
            let job: serde_json::Value = serde_json::from_str(
                &std::fs::read_to_string(d.join("dry/CUSTOMER/job.json")).unwrap(),
            )
            .unwrap();
            assert_eq!(job["outcomes"]["skipped"], 302);
            apply(d, "b");
        } else {
            eprintln!("note: not root; the second-OS-user part of this test was skipped");
        }
    }
}

/// Whether this process runs as root (uid 0), read from /proc without unsafe code.
#[cfg(unix)]
fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(1).map(|u| u == "0"))
        })
        .unwrap_or(false)
}

#[test]
fn a_run_that_dies_while_writing_leaves_the_previous_folder_whole() {
    let dir = demo();
    let d = dir.path();
    ok(&coupler(
        &["couple", "--config", "coupling.toml", "--out", "o"],
        d,
    ));
    let folder = d.join("o/CUSTOMER");
    let before: Vec<(String, Vec<u8>)> = listing(&folder)
        .into_iter()
        .map(|n| (n.clone(), std::fs::read(folder.join(&n)).unwrap()))
        .collect();
    // The next run changes the data, then dies after writing its files, before the swap.
    let customers = std::fs::read_to_string(d.join("customers.csv")).unwrap();
    let fewer: Vec<&str> = customers.lines().take(50).collect();
    std::fs::write(d.join("customers.csv"), fewer.join("\n") + "\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_coupler"))
        .args(["couple", "--config", "coupling.toml", "--out", "o"])
        .current_dir(d)
        .env("FAILPOINTS", "apply::outputs_staged=return")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let after: Vec<(String, Vec<u8>)> = listing(&folder)
        .into_iter()
        .map(|n| (n.clone(), std::fs::read(folder.join(&n)).unwrap()))
        .collect();
    assert_eq!(
        after, before,
        "the previous folder is untouched, file for file"
    );
    // The next run replaces it whole and removes the dead run's staging folder.
    ok(&coupler(
        &["couple", "--config", "coupling.toml", "--out", "o"],
        d,
    ));
    assert_eq!(listing(&d.join("o")), ["CUSTOMER"]);
    let job: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(folder.join("job.json")).unwrap()).unwrap();
    assert!(job["local_records"].as_u64().unwrap() < 50);
    let results = std::fs::read_to_string(folder.join("results.csv")).unwrap();
    assert_eq!(
        results.lines().count() as u64,
        job["local_records"].as_u64().unwrap() + 1
    );
}

#[test]
fn file_rows_of_a_run_that_died_before_its_folder_are_delivered_by_the_next_run() {
    let dir = demo();
    let d = dir.path();
    let config = std::fs::read_to_string(d.join("coupling.toml")).unwrap();
    let config = config.replacen(
        "name = \"CUSTOMER\"",
        "name = \"CUSTOMER\"\nsync_after_coupling = true\nupdate_conflict_resolution = \"send\"",
        1,
    );
    std::fs::write(d.join("coupling.toml"), config).unwrap();
    // A fault-free twin tells how many rows the file should have.
    let twin = demo();
    std::fs::copy(d.join("coupling.toml"), twin.path().join("coupling.toml")).unwrap();
    apply(twin.path(), "a");
    let expected =
        std::fs::read_to_string(twin.path().join("a/CUSTOMER/integration-updates.csv")).unwrap();
    assert!(expected.lines().count() > 1);

    // The run commits its couplings and rows, then dies before its folder is swapped in.
    let out = Command::new(env!("CARGO_BIN_EXE_coupler"))
        .args([
            "couple",
            "--config",
            "coupling.toml",
            "--out",
            "a",
            "--apply",
        ])
        .current_dir(d)
        .env("FAILPOINTS", "apply::outputs_staged=return")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        !d.join("a/CUSTOMER").exists(),
        "no folder that looks complete"
    );
    // The rerun couples nothing new, yet its file carries the dead run's rows.
    apply(d, "b");
    assert_eq!(job(d, "b")["outcomes"]["coupled"], 0);
    let delivered = std::fs::read_to_string(d.join("b/CUSTOMER/integration-updates.csv")).unwrap();
    assert_eq!(delivered, expected);
    // Delivered once: the next run's file is empty.
    apply(d, "c");
    let again = std::fs::read_to_string(d.join("c/CUSTOMER/integration-updates.csv"));
    assert!(again.map_or(true, |t| t.lines().count() <= 1));
}
