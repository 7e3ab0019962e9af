//! CPU-bound work (filling, drawing, encoding) on blocking threads behind a
//! limit, so the async threads stay free for cache hits.

use std::sync::Arc;

use tokio::sync::Semaphore;

/// Why CPU work did not return a value.
#[derive(Debug, Clone, thiserror::Error)]
pub enum CpuError {
    /// The work panicked.
    #[error("the work panicked")]
    Panicked,
    /// The limit was closed: the service is stopping.
    #[error("the service is stopping")]
    Closed,
}

/// A limit on CPU-bound work running at once; cheap to clone.
#[derive(Debug, Clone)]
pub struct Cpu {
    limit: Arc<Semaphore>,
    threads: usize,
}

impl Cpu {
    /// Allows `threads` pieces of work at once.
    pub fn new(threads: usize) -> Self {
        let threads = threads.max(1);
        Self {
            limit: Arc::new(Semaphore::new(threads)),
            threads,
        }
    }

    /// How many are running now.
    pub fn busy(&self) -> usize {
        self.threads - self.limit.available_permits()
    }

    /// Runs `work` on a blocking thread once a place is free.
    pub async fn run<R: Send + 'static>(
        &self,
        work: impl FnOnce() -> R + Send + 'static,
    ) -> Result<R, CpuError> {
        let _permit = self.limit.acquire().await.map_err(|_| CpuError::Closed)?;
        tokio::task::spawn_blocking(work)
            .await
            .map_err(|_| CpuError::Panicked)
    }
}
