//! The threads evaluations run on: one per evaluation slot, started with the server and kept
//! for its life, taking work from one queue. A fixed set keeps each thread's stack and allocator
//! heap warm from one request to the next, where tokio's blocking pool starts a thread whenever
//! none is idle and hands consecutive requests to different ones (README, Performance).

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{mpsc, Arc, Mutex};

/// The stack of an evaluation thread: tokio's default for blocking threads, which evaluations
/// had before.
const STACK_BYTES: usize = 2 << 20;

type Job = Box<dyn FnOnce() + Send>;

/// A fixed set of threads running evaluations in the order they are queued. The threads stop
/// once the pool is dropped and the queue is empty.
pub struct EvaluationPool {
    queue: mpsc::Sender<Job>,
}

/// The work did not return: it panicked (the panic hook reported it, as any other), or no
/// thread was left to run it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Failed;

impl EvaluationPool {
    /// Starts `threads` threads (at least one).
    pub fn new(threads: usize) -> std::io::Result<EvaluationPool> {
        let (queue, jobs) = mpsc::channel::<Job>();
        let jobs = Arc::new(Mutex::new(jobs));
        for n in 0..threads.max(1) {
            let jobs = Arc::clone(&jobs);
            std::thread::Builder::new()
                .name(format!("cmek-gate-evaluation-{n}"))
                .stack_size(STACK_BYTES)
                .spawn(move || loop {
                    // The lock is held only while waiting for the next job, not while it runs.
                    let next = match jobs.lock() {
                        Ok(jobs) => jobs.recv(),
                        Err(_) => return,
                    };
                    match next {
                        Ok(job) => job(),
                        Err(_) => return,
                    }
                })?;
        }
        Ok(EvaluationPool { queue })
    }

    /// Runs `work` on one of the threads and returns its result; [`Failed`] if it panicked
    /// (the thread lives on) or could not be queued.
    pub async fn run<T, F>(&self, work: F) -> Result<T, Failed>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let (done, result) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move || {
            let _ = done.send(catch_unwind(AssertUnwindSafe(work)));
        });
        self.queue.send(job).map_err(|_| Failed)?;
        match result.await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(_)) | Err(_) => Err(Failed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn work_runs_on_the_pools_threads_and_returns_its_result() {
        let pool = Arc::new(EvaluationPool::new(2).unwrap());
        let mut tasks = Vec::new();
        for i in 0..64u64 {
            let pool = Arc::clone(&pool);
            tasks.push(tokio::spawn(async move {
                pool.run(move || (i * i, std::thread::current().name().map(String::from)))
                    .await
            }));
        }
        let mut names = BTreeSet::new();
        for (i, task) in tasks.into_iter().enumerate() {
            let (square, name) = task.await.unwrap().unwrap();
            assert_eq!(square, (i * i) as u64);
            names.insert(name.unwrap());
        }
        // However many requests, no more threads than the pool was given.
        assert!(!names.is_empty() && names.len() <= 2, "{names:?}");
        assert!(names.iter().all(|n| n.starts_with("cmek-gate-evaluation-")));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_panic_is_an_error_and_the_thread_serves_the_next_job() {
        let pool = EvaluationPool::new(1).unwrap();
        let panicked: Result<(), Failed> = pool.run(|| panic!("a hostile body")).await;
        assert_eq!(panicked, Err(Failed));
        // The one thread is still there.
        assert_eq!(pool.run(|| 41 + 1).await, Ok(42));
    }

    #[test]
    fn no_threads_asked_still_starts_one() {
        let pool = EvaluationPool::new(0).unwrap();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        assert_eq!(runtime.block_on(pool.run(|| "ran")), Ok("ran"));
    }
}
