//! The templates in force, swapped atomically when their folder changes.
//! Requests read the current set without a lock; a set that no longer
//! compiles is logged and the previous one kept. The engine watches the
//! folder.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use arc_swap::ArcSwap;

use super::{TemplateError, Templates, Toolkit};

/// How often the templates folder is checked for changes.
pub const POLL: Duration = Duration::from_secs(2);

/// A fingerprint of a folder: names, modification times, sizes.
type Stamp = Vec<(String, SystemTime, u64)>;

/// The current templates of one folder.
pub struct LiveTemplates {
    dir: PathBuf,
    current: ArcSwap<Templates>,
    stamp: Mutex<Stamp>,
    toolkit: Toolkit,
}

impl LiveTemplates {
    /// Loads the templates in `dir`, compiled with `toolkit`.
    pub fn load(dir: &Path, toolkit: Toolkit) -> Result<Self, TemplateError> {
        let stamp = stamp(dir);
        Ok(Self {
            dir: dir.to_path_buf(),
            current: ArcSwap::from_pointee(Templates::load(dir, &toolkit)?),
            stamp: Mutex::new(stamp),
            toolkit,
        })
    }

    /// The templates in force now.
    pub fn current(&self) -> Arc<Templates> {
        self.current.load_full()
    }

    /// Reloads when a file in the folder changed; `true` when a new set is
    /// in force. Blocking: it reads the folder.
    pub fn reload_if_changed(&self) -> bool {
        let now = stamp(&self.dir);
        {
            let mut seen = self.stamp.lock().unwrap_or_else(PoisonError::into_inner);
            if *seen == now {
                return false;
            }
            *seen = now;
        }
        // A folder gone for a moment (a deploy's rename, a remount) is not
        // an empty one: the templates in force stay.
        if !self.dir.is_dir() {
            tracing::error!(dir = %self.dir.display(), "the templates folder is gone; keeping the templates in force");
            return false;
        }
        match Templates::load(&self.dir, &self.toolkit) {
            Ok(t) => {
                tracing::info!(dir = %self.dir.display(), "templates changed: reloaded");
                self.current.store(Arc::new(t));
                true
            }
            Err(e) => {
                tracing::error!(error = %e, "templates changed but do not load; keeping the previous ones");
                false
            }
        }
    }
}

fn stamp(dir: &Path) -> Stamp {
    let mut out: Vec<_> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let meta = e.metadata().ok()?;
            Some((
                e.file_name().to_string_lossy().into_owned(),
                meta.modified().ok()?,
                meta.len(),
            ))
        })
        .collect();
    out.sort();
    out
}
