//! Build script: the version `coupler --version` prints, with the commit it was built from.
//!
//! Sets `COUPLER_VERSION` for the crate, e.g. `0.1.0 (commit 36d0e60, 2026-12-07)` (the
//! commit's short hash and its committer date), and `COUPLER_COMMIT_DATE` (`2026-12-07`, or
//! empty). The commit comes from, in this order:
//!
//! 1. `COUPLER_BUILD_COMMIT` (and optionally `COUPLER_BUILD_DATE`) in the environment, for
//!    packagers who build from a source archive; set to an empty value it means "no commit";
//! 2. `git`, when the crate sits in a git work tree (a clone or a `git worktree`) whose top
//!    folder is this workspace;
//! 3. nothing: a build without git or `.git` (a source archive, a copied folder) prints the
//!    plain version, `0.1.0`.
//!
//! Reruns only when the commit can change: when `HEAD` moves (checkout, switch) or the branch it
//! names moves (commit, reset, pull), or when one of the two variables changes; not on every
//! build.

use std::env;
use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=COUPLER_BUILD_COMMIT");
    println!("cargo:rerun-if-env-changed=COUPLER_BUILD_DATE");
    let version = env::var("CARGO_PKG_VERSION").expect("cargo sets CARGO_PKG_VERSION");
    let manifest_dir =
        PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));

    let commit = match env::var("COUPLER_BUILD_COMMIT") {
        Ok(hash) => {
            let date = env::var("COUPLER_BUILD_DATE").unwrap_or_default();
            Some((hash.trim().to_owned(), date.trim().to_owned())).filter(|(h, _)| !h.is_empty())
        }
        Err(_) => from_git(&manifest_dir),
    };
    let (text, date) = match commit {
        Some((hash, date)) if date.is_empty() => (format!("{version} (commit {hash})"), date),
        Some((hash, date)) => (format!("{version} (commit {hash}, {date})"), date),
        None => (version, String::new()),
    };
    println!("cargo:rustc-env=COUPLER_VERSION={text}");
    println!("cargo:rustc-env=COUPLER_COMMIT_DATE={date}");
}

/// The short hash and committer date (YYYY-MM-DD) of `HEAD`, when this crate is built from a git
/// work tree of the coupler repository; also tells cargo which git files to watch.
fn from_git(manifest_dir: &Path) -> Option<(String, String)> {
    // The workspace root is the crate's parent folder; a git repository above it (a source
    // archive unpacked inside some other repository) is not coupler's history.
    let top = PathBuf::from(git(manifest_dir, &["rev-parse", "--show-toplevel"])?);
    let workspace = manifest_dir.parent()?;
    if top.canonicalize().ok()? != workspace.canonicalize().ok()? {
        return None;
    }
    watch_git_files(manifest_dir);
    let hash = git(manifest_dir, &["rev-parse", "--short", "HEAD"])?;
    let date = git(
        manifest_dir,
        &["log", "-1", "--format=%cd", "--date=short", "HEAD"],
    )
    .unwrap_or_default();
    Some((hash, date))
}

/// `rerun-if-changed` on the files that hold the commit: `HEAD` (in a linked worktree `.git` is
/// a file, and `HEAD` lives in `.git/worktrees/NAME/`, found by `--git-dir`), the branch's ref
/// in the common git folder (shared by all worktrees; loose, or in `packed-refs`), and the
/// reftable folder of repositories that use one. Only existing paths are named: cargo reruns a
/// build script every time for a path that does not exist.
fn watch_git_files(dir: &Path) {
    let absolute = |p: String| {
        let p = dir.join(p); // a relative path is relative to `dir`; an absolute one stays
        p.canonicalize().unwrap_or(p)
    };
    let Some(git_dir) = git(dir, &["rev-parse", "--git-dir"]).map(absolute) else {
        return;
    };
    let common_dir = git(dir, &["rev-parse", "--git-common-dir"])
        .map(absolute)
        .unwrap_or_else(|| git_dir.clone());
    let mut watched = vec![git_dir.join("HEAD")];
    // `HEAD` on a branch: `refs/heads/NAME` (detached: `HEAD`, whose file holds the hash).
    if let Some(branch) =
        git(dir, &["rev-parse", "--symbolic-full-name", "HEAD"]).filter(|r| r.starts_with("refs/"))
    {
        // The loose ref, or (a packed ref, which a commit turns into a loose one) the nearest
        // existing folder above it, which that new file changes.
        let mut path = common_dir.join(&branch);
        while !path.exists() && path.pop() && path.starts_with(&common_dir) {}
        if path.starts_with(common_dir.join("refs")) {
            watched.push(path);
        }
    }
    watched.push(common_dir.join("packed-refs"));
    watched.push(common_dir.join("reftable"));
    for path in watched.into_iter().filter(|p| p.exists()) {
        println!("cargo:rerun-if-changed={}", path.display());
    }
}

/// A git command's trimmed stdout, or `None` when git is missing or fails.
fn git(dir: &Path, args: &[&str]) -> Option<String> {
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    let text = String::from_utf8(out.stdout).ok()?.trim().to_owned();
    Some(text).filter(|t| !t.is_empty())
}
