//! Work spread over a few threads with the results in order (the CPU-bound steps of `check`,
//! `fix` and `scan`; no I/O).

/// `work` of every item on a pool of `threads` threads (each takes the next items when it is
/// done with its last, so one slow item does not hold the others up), each result given to
/// `take` on the calling thread as soon as the results before it are: in the order of the
/// items. Only the items being worked on and the results waiting for an earlier one are alive.
///
/// Many small items are taken a block at a time (about sixteen blocks per thread), so that the
/// calling thread is woken once per block rather than once per item: on a machine with as many
/// cores as workers, each wake-up takes a core from a worker.
pub fn for_each_in_order<T: Sync, R: Send>(
    items: &[T],
    threads: usize,
    work: impl Fn(&T) -> R + Sync,
    mut take: impl FnMut(usize, R),
) {
    if threads <= 1 || items.len() < 2 {
        for (i, item) in items.iter().enumerate() {
            take(i, work(item));
        }
        return;
    }
    let block = (items.len() / (threads * 16)).max(1);
    let next = std::sync::atomic::AtomicUsize::new(0);
    let (sender, receiver) = std::sync::mpsc::channel::<(usize, Vec<R>)>();
    std::thread::scope(|scope| {
        for _ in 0..threads.min(items.len()) {
            let (sender, next, work) = (sender.clone(), &next, &work);
            scope.spawn(move || loop {
                let start = next.fetch_add(block, std::sync::atomic::Ordering::Relaxed);
                let Some(taken) = items.get(start..(start + block).min(items.len())) else {
                    break;
                };
                if taken.is_empty()
                    || sender
                        .send((start, taken.iter().map(work).collect()))
                        .is_err()
                {
                    break;
                }
            });
        }
        drop(sender);
        // A worker that panics drops its sender: the loop ends and the scope passes the panic on.
        let mut waiting = std::collections::BTreeMap::new();
        let mut taken = 0;
        for (start, results) in receiver {
            waiting.insert(start, results);
            while let Some(results) = waiting.remove(&taken) {
                for result in results {
                    take(taken, result);
                    taken += 1;
                }
            }
        }
    });
}

/// [`for_each_in_order`], the results gathered in the order of the items.
pub fn map_in_order<T: Sync, R: Send>(
    items: &[T],
    threads: usize,
    work: impl Fn(&T) -> R + Sync,
) -> Vec<R> {
    let mut results = Vec::with_capacity(items.len());
    for_each_in_order(items, threads, work, |_, result| results.push(result));
    results
}

#[cfg(test)]
mod tests {
    use super::{for_each_in_order, map_in_order};

    #[test]
    fn results_come_in_the_order_of_the_items_on_any_number_of_threads() {
        let items: Vec<u64> = (0..1000).collect();
        // Uneven work, so that the threads finish their items out of order.
        let work =
            |n: &u64| (0..(n % 7) * 1000).fold(*n, |a, b| a.wrapping_add(b)) % 1000 + n * 1000;
        let expected: Vec<u64> = items.iter().map(work).collect();
        for threads in [0, 1, 2, 3, 8] {
            assert_eq!(
                map_in_order(&items, threads, work),
                expected,
                "{threads} threads"
            );
        }
        assert_eq!(map_in_order(&items[..1], 4, work), expected[..1]);
        assert!(map_in_order(&items[..0], 4, work).is_empty());
        // Each result is taken once the results before it are.
        let mut taken = Vec::new();
        for_each_in_order(&items, 2, work, |i, result| {
            assert_eq!(i, taken.len());
            taken.push(result);
        });
        assert_eq!(taken, expected);
    }
}
