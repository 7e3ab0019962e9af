//! The process's own load (CPU and memory) and the disk space free under
//! the cache folder, read through `sysinfo`.

use std::path::Path;
use std::sync::{Mutex, OnceLock, PoisonError};

use serde::{Deserialize, Serialize};
use sysinfo::{Pid, ProcessRefreshKind, ProcessesToUpdate, System};

/// What the process uses.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
pub struct Load {
    /// CPU used since the previous reading, in percent of one core.
    pub cpu_percent: f32,
    /// Resident memory, bytes.
    pub memory_bytes: u64,
}

/// The process's load now. CPU is measured between two readings, so the
/// first reading says 0.
pub fn process_load() -> Load {
    static SYSTEM: OnceLock<Mutex<System>> = OnceLock::new();
    let Ok(pid) = sysinfo::get_current_pid() else {
        return Load::default();
    };
    let system = SYSTEM.get_or_init(|| Mutex::new(System::new()));
    let mut system = system.lock().unwrap_or_else(PoisonError::into_inner);
    let kind = ProcessRefreshKind::nothing().with_cpu().with_memory();
    system.refresh_processes_specifics(ProcessesToUpdate::Some(&[pid]), true, kind);
    system
        .process(Pid::from(pid.as_u32() as usize))
        .map_or(Load::default(), |p| Load {
            cpu_percent: p.cpu_usage(),
            memory_bytes: p.memory(),
        })
}

/// Bytes free to this user on the file system that holds `path`, asked of
/// that file system itself (`statvfs`): a list of disks misses tmpfs,
/// bind mounts and volumes, and then names the root's space instead.
pub fn disk_free(path: &Path) -> Option<u64> {
    let stat = rustix::fs::statvfs(path).ok()?;
    Some(stat.f_bavail.saturating_mul(stat.f_frsize))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_process_has_memory_and_its_folder_a_disk() {
        assert!(process_load().memory_bytes > 0);
        let dir = tempfile::tempdir().unwrap();
        assert!(disk_free(dir.path()).is_some());
    }

    /// `df`'s free bytes for `path`, asked of another program.
    fn df_free(path: &Path) -> u64 {
        let out = std::process::Command::new("df")
            .args(["-B1", "--output=avail"])
            .arg(path)
            .output()
            .expect("df runs");
        let text = String::from_utf8_lossy(&out.stdout);
        text.lines().nth(1).unwrap().trim().parse().unwrap()
    }

    /// The free space is that of the mount holding the folder: a tmpfs
    /// (`/dev/shm`) apart from the root file system.
    #[test]
    fn the_free_space_is_that_of_the_folders_own_mount() {
        let shm = Path::new("/dev/shm");
        assert!(shm.is_dir(), "this test needs /dev/shm, a tmpfs on Linux");
        let dir = tempfile::tempdir_in(shm).unwrap();
        let ours = disk_free(dir.path()).unwrap();
        let df = df_free(dir.path());
        let slack = 16 * 1024 * 1024;
        assert!(ours.abs_diff(df) < slack, "ours {ours}, df {df}");
        let root = df_free(Path::new("/"));
        assert!(
            root.abs_diff(df) > slack,
            "/dev/shm ({df}) and / ({root}) look like one file system; the test cannot tell them apart"
        );
    }
}
