//! All-or-nothing output folders: a job's files are written into a staging folder beside the
//! final one and swapped in whole, so a failed or killed run never leaves a folder that mixes
//! its files with an earlier run's, nor one that looks complete when it is not.
//!
//! The swap: on Linux, `renameat2(RENAME_EXCHANGE)` exchanges the staging and the final folder
//! atomically (the old content then sits under the staging name and is removed). Elsewhere, or
//! where the file system refuses the exchange, the old folder is renamed aside, the new one
//! renamed in, and the old one removed: a crash between those two renames leaves no final folder
//! at all (never a mixed one), and the next run removes the leftovers. Staging folders are named
//! `.<name>.staging-<pid>-<n>`; one whose process is gone is removed by the next run.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

use crate::FilesError;

/// Distinguishes staging folders of one process.
static NEXT: AtomicU32 = AtomicU32::new(0);

/// A folder being written, to be swapped in as `final_dir` by [`StagedFolder::commit`]; removed
/// if dropped uncommitted.
///
/// ```
/// use std::fs;
/// use coupler_files::StagedFolder;
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let out = tempfile::tempdir()?;
/// let final_dir = out.path().join("CUSTOMER");
/// // An earlier run's output.
/// fs::create_dir(&final_dir)?;
/// fs::write(final_dir.join("results.csv"), "old")?;
/// fs::write(final_dir.join("sync-plan.csv"), "old")?;
///
/// let staged = StagedFolder::new(&final_dir)?;
/// let results = staged.path().join("results.csv");
/// fs::write(&results, "local_id,integration_id\n10000,acc-1\n")?;
/// assert_eq!(staged.final_path(&results), final_dir.join("results.csv"));
/// assert_eq!(fs::read_to_string(final_dir.join("results.csv"))?, "old"); // not yet
///
/// staged.commit()?;
/// assert_eq!(
///     fs::read_to_string(final_dir.join("results.csv"))?,
///     "local_id,integration_id\n10000,acc-1\n"
/// );
/// // The folder is this run's alone: the old run's other file is gone, and so is the staging
/// // folder.
/// assert!(!final_dir.join("sync-plan.csv").exists());
/// assert_eq!(fs::read_dir(out.path())?.count(), 1);
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct StagedFolder {
    final_dir: PathBuf,
    staging: PathBuf,
    committed: bool,
}

impl StagedFolder {
    /// Creates the parent folder if needed, removes staging folders of `final_dir` left by
    /// processes that are gone, and creates a new, empty staging folder.
    pub fn new(final_dir: &Path) -> Result<StagedFolder, FilesError> {
        let parent = final_dir
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let name = final_dir
            .file_name()
            .ok_or_else(|| {
                FilesError::io(
                    final_dir,
                    std::io::Error::new(
                        std::io::ErrorKind::InvalidInput,
                        "an output folder needs a name",
                    ),
                )
            })?
            .to_string_lossy()
            .into_owned();
        fs::create_dir_all(parent).map_err(|e| FilesError::io(parent, e))?;
        remove_stale(parent, &name);
        let staging = parent.join(format!(
            ".{name}.staging-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        fs::create_dir(&staging).map_err(|e| FilesError::io(&staging, e))?;
        Ok(StagedFolder {
            final_dir: final_dir.to_owned(),
            staging,
            committed: false,
        })
    }

    /// Where to write the files now.
    pub fn path(&self) -> &Path {
        &self.staging
    }

    /// The folder the files end up in.
    pub fn final_dir(&self) -> &Path {
        &self.final_dir
    }

    /// Where a file written at `staged` (inside [`StagedFolder::path`]) will be after the swap.
    pub fn final_path(&self, staged: &Path) -> PathBuf {
        match staged.strip_prefix(&self.staging) {
            Ok(rest) => self.final_dir.join(rest),
            Err(_) => staged.to_owned(),
        }
    }

    /// Swaps the staging folder in as the final folder (see the module docs), replacing what
    /// was there, and removes the old content.
    pub fn commit(mut self) -> Result<(), FilesError> {
        let err = |e| FilesError::io(&self.final_dir, e);
        sync_dir(&self.staging);
        if !self.final_dir.exists() {
            fs::rename(&self.staging, &self.final_dir).map_err(err)?;
        } else if !self.final_dir.is_dir() {
            return Err(err(std::io::Error::new(
                std::io::ErrorKind::AlreadyExists,
                "exists and is not a folder; move it away",
            )));
        } else if exchange(&self.staging, &self.final_dir) {
            // The old content is under the staging name now.
            let _ = fs::remove_dir_all(&self.staging);
        } else {
            swap_by_renames(&self.staging, &self.final_dir).map_err(err)?;
        }
        if let Some(parent) = self.final_dir.parent() {
            sync_dir(parent);
        }
        self.committed = true;
        Ok(())
    }
}

impl Drop for StagedFolder {
    fn drop(&mut self) {
        if !self.committed {
            let _ = fs::remove_dir_all(&self.staging);
        }
    }
}

/// Removes `.<name>.staging-<pid>-…` folders (and their `.old` twins) whose process is gone.
fn remove_stale(parent: &Path, name: &str) {
    let prefix = format!(".{name}.staging-");
    let Ok(entries) = fs::read_dir(parent) else {
        return;
    };
    for entry in entries.flatten() {
        let file_name = entry.file_name();
        let Some(rest) = file_name.to_str().and_then(|f| f.strip_prefix(&prefix)) else {
            continue;
        };
        let pid: Option<u32> = rest.split('-').next().and_then(|p| p.parse().ok());
        if pid.is_some_and(|pid| pid == std::process::id() || !process_alive(pid)) {
            let _ = fs::remove_dir_all(entry.path());
        }
    }
}

/// Whether a process with this id exists (Linux: `/proc`); elsewhere, assume it is gone unless
/// it is this one — a staging folder of a live process elsewhere is then removed under it, and
/// that process's swap fails with a clear error rather than mixing folders.
fn process_alive(pid: u32) -> bool {
    if cfg!(target_os = "linux") {
        Path::new(&format!("/proc/{pid}")).exists()
    } else {
        pid == std::process::id()
    }
}

/// The swap where no atomic exchange exists: the old folder aside, the new one in, the old one
/// removed. A crash between the two renames leaves no final folder, never a mixed one; the old
/// one, `.<name>.staging-<pid>-<n>.old`, is removed by the next run.
fn swap_by_renames(staging: &Path, final_dir: &Path) -> std::io::Result<()> {
    let mut old_name = staging.as_os_str().to_owned();
    old_name.push(".old");
    let old = PathBuf::from(old_name);
    fs::rename(final_dir, &old)?;
    fs::rename(staging, final_dir)?;
    let _ = fs::remove_dir_all(&old);
    Ok(())
}

/// Exchanges two folders atomically where the OS can; `false` when it cannot.
#[cfg(target_os = "linux")]
fn exchange(a: &Path, b: &Path) -> bool {
    use rustix::fs::{renameat_with, RenameFlags, CWD};
    renameat_with(CWD, a, CWD, b, RenameFlags::EXCHANGE).is_ok()
}

#[cfg(not(target_os = "linux"))]
fn exchange(_: &Path, _: &Path) -> bool {
    false
}

/// Makes a folder's entries durable (renames included); best effort, and a no-op where folders
/// cannot be opened (Windows).
fn sync_dir(dir: &Path) {
    if let Ok(d) = fs::File::open(dir) {
        let _ = d.sync_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    #[test]
    fn a_commit_replaces_the_whole_folder() {
        let out = tempfile::tempdir().unwrap();
        let target = out.path().join("CUSTOMER");
        fs::create_dir(&target).unwrap();
        fs::write(target.join("results.csv"), "old").unwrap();
        fs::write(target.join("sync-plan.csv"), "old").unwrap();
        let staged = StagedFolder::new(&target).unwrap();
        fs::write(staged.path().join("results.csv"), "new").unwrap();
        assert_eq!(
            staged.final_path(&staged.path().join("results.csv")),
            target.join("results.csv")
        );
        // Until the commit, the old folder is intact.
        assert_eq!(
            fs::read_to_string(target.join("results.csv")).unwrap(),
            "old"
        );
        staged.commit().unwrap();
        assert_eq!(
            names(&target),
            ["results.csv"],
            "no file of the old run left"
        );
        assert_eq!(
            fs::read_to_string(target.join("results.csv")).unwrap(),
            "new"
        );
        assert_eq!(names(out.path()), ["CUSTOMER"], "no staging folder left");
    }

    #[test]
    fn an_uncommitted_folder_leaves_the_old_one_untouched() {
        let out = tempfile::tempdir().unwrap();
        let target = out.path().join("CUSTOMER");
        fs::create_dir(&target).unwrap();
        fs::write(target.join("results.csv"), "old").unwrap();
        {
            let staged = StagedFolder::new(&target).unwrap();
            fs::write(staged.path().join("results.csv"), "half").unwrap();
        }
        assert_eq!(
            fs::read_to_string(target.join("results.csv")).unwrap(),
            "old"
        );
        assert_eq!(names(out.path()), ["CUSTOMER"]);
    }

    #[test]
    fn staging_folders_of_dead_processes_are_removed() {
        let out = tempfile::tempdir().unwrap();
        let target = out.path().join("CUSTOMER");
        // A pid that cannot be alive (above Linux's pid_max).
        let stale = out.path().join(".CUSTOMER.staging-4194305-0");
        fs::create_dir(&stale).unwrap();
        fs::write(stale.join("results.csv"), "half").unwrap();
        let other = out.path().join(".VENDOR.staging-4194305-0");
        fs::create_dir(&other).unwrap();
        let staged = StagedFolder::new(&target).unwrap();
        assert!(!stale.exists());
        assert!(
            other.exists(),
            "another mapping's folder is its own run's business"
        );
        staged.commit().unwrap();
    }

    #[test]
    fn the_swap_without_an_atomic_exchange_replaces_the_whole_folder_too() {
        let out = tempfile::tempdir().unwrap();
        let target = out.path().join("CUSTOMER");
        fs::create_dir(&target).unwrap();
        fs::write(target.join("old.csv"), "old").unwrap();
        let staging = out.path().join(".CUSTOMER.staging-4194305-0");
        fs::create_dir(&staging).unwrap();
        fs::write(staging.join("new.csv"), "new").unwrap();
        swap_by_renames(&staging, &target).unwrap();
        assert_eq!(names(&target), ["new.csv"]);
        assert_eq!(names(out.path()), ["CUSTOMER"], "the old folder is removed");
        // Had the process died between the renames, the next run removes the aside folder.
        let aside = out.path().join(".CUSTOMER.staging-4194305-1.old");
        fs::create_dir(&aside).unwrap();
        StagedFolder::new(&target).unwrap();
        assert!(!aside.exists());
    }

    #[test]
    fn a_file_where_the_folder_should_be_is_an_error() {
        let out = tempfile::tempdir().unwrap();
        let target = out.path().join("CUSTOMER");
        fs::write(&target, "not a folder").unwrap();
        let staged = StagedFolder::new(&target).unwrap();
        let e = staged.commit().unwrap_err().to_string();
        assert!(e.contains("not a folder"), "{e}");
    }
}
