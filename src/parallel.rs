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
    in_order_with(n, || (), |_, i| job(i)).0
}

/// [`in_order`] where each thread keeps a state of its own (made by `start`) that its jobs
/// add to; the states come back too, one per thread. Which jobs added to which state
/// depends on timing, so a caller must make of the states something that does not (the
/// ledger's rows are put in canonical order, whichever builder holds them).
pub fn in_order_with<S: Send, T: Send>(
    n: usize,
    start: impl Fn() -> S + Sync,
    job: impl Fn(&mut S, usize) -> T + Sync,
) -> (Vec<T>, Vec<S>) {
    let threads = std::thread::available_parallelism()
        .map_or(1, |p| p.get())
        .min(n);
    if threads <= 1 {
        let mut state = start();
        let done = (0..n).map(|i| job(&mut state, i)).collect();
        return (done, vec![state]);
    }
    let next = std::sync::atomic::AtomicUsize::new(0);
    let (mut done, states): (Vec<(usize, T)>, Vec<S>) = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(|| {
                    let mut state = start();
                    let mut mine = Vec::new();
                    loop {
                        let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        if i >= n {
                            return (mine, state);
                        }
                        mine.push((i, job(&mut state, i)));
                    }
                })
            })
            .collect();
        let mut done = Vec::with_capacity(n);
        let mut states = Vec::with_capacity(threads);
        for w in workers {
            match w.join() {
                Ok((mine, state)) => {
                    done.extend(mine);
                    states.push(state);
                }
                Err(panic) => std::panic::resume_unwind(panic),
            }
        }
        (done, states)
    });
    done.sort_by_key(|(i, _)| *i);
    (done.into_iter().map(|(_, t)| t).collect(), states)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_come_in_job_order_and_every_job_is_in_one_state() {
        let (done, states) = in_order_with(1000, Vec::new, |mine: &mut Vec<usize>, i| {
            mine.push(i);
            i * 2
        });
        assert_eq!(done, (0..1000).map(|i| i * 2).collect::<Vec<_>>());
        let mut seen: Vec<usize> = states.into_iter().flatten().collect();
        seen.sort_unstable();
        assert_eq!(seen, (0..1000).collect::<Vec<_>>());
        assert_eq!(in_order(3, |i| i + 1), vec![1, 2, 3]);
    }
}
