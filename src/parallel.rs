//! Independent jobs on every core, their results in job order.
//!
//! Used where the work splits into independent pieces whose results must come out in a
//! fixed order whatever finishes first: the sources of a case (ingest), the rules of a run
//! (detect) and the tracing methods (trace). Deterministic output does not depend on
//! scheduling.

/// `job(0..n)` on up to as many threads as the machine has cores, each thread taking the
/// next job when it finishes one; the results in job order. A job that panics is a bug,
/// and the panic is passed on.
pub fn in_order<T: Send>(n: usize, job: impl Fn(usize) -> T + Sync) -> Vec<T> {
    let threads = std::thread::available_parallelism()
        .map_or(1, |p| p.get())
        .min(n);
    if threads <= 1 {
        return (0..n).map(job).collect();
    }
    let next = std::sync::atomic::AtomicUsize::new(0);
    let mut done: Vec<(usize, T)> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(|| {
                    let mut mine = Vec::new();
                    loop {
                        let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        if i >= n {
                            return mine;
                        }
                        mine.push((i, job(i)));
                    }
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| match w.join() {
                Ok(mine) => mine,
                Err(panic) => std::panic::resume_unwind(panic),
            })
            .collect()
    });
    done.sort_by_key(|(i, _)| *i);
    done.into_iter().map(|(_, t)| t).collect()
}
