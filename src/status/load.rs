//! The process's own load (CPU and memory) and the disk space free under
//! the cache folder, read through `sysinfo`.

use std::path::Path;
use std::sync::{Mutex, OnceLock, PoisonError};

use serde::Serialize;
use sysinfo::{Disks, Pid, ProcessRefreshKind, ProcessesToUpdate, System};

/// What the process uses.
#[derive(Debug, Clone, Copy, Default, Serialize)]
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

/// Bytes free on the disk that holds `path`, if it can be found.
pub fn disk_free(path: &Path) -> Option<u64> {
    let path = std::fs::canonicalize(path).ok()?;
    let disks = Disks::new_with_refreshed_list();
    disks
        .list()
        .iter()
        .filter(|d| path.starts_with(d.mount_point()))
        .max_by_key(|d| d.mount_point().as_os_str().len())
        .map(|d| d.available_space())
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
}
