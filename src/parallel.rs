//! Work spread over a few threads with the results in order (the CPU-bound steps of `check`,
//! `fix` and `scan`; no I/O).

/// `work` of every item on a pool of `threads` threads (each takes the next item when it is
/// done with its last, so one slow item does not hold the others up), the results in the order
/// of the items.
pub fn map_in_order<T: Sync, R: Send>(
    items: &[T],
    threads: usize,
    work: impl Fn(&T) -> R + Sync,
) -> Vec<R> {
    if threads <= 1 || items.len() < 2 {
        return items.iter().map(work).collect();
    }
    let next = std::sync::atomic::AtomicUsize::new(0);
    let mut slots: Vec<Option<R>> = std::iter::repeat_with(|| None).take(items.len()).collect();
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads.min(items.len()))
            .map(|_| {
                let (next, work) = (&next, &work);
                scope.spawn(move || {
                    let mut done = Vec::new();
                    loop {
                        let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let Some(item) = items.get(i) else { break done };
                        done.push((i, work(item)));
                    }
                })
            })
            .collect();
        for handle in handles {
            for (i, result) in handle.join().expect("a worker thread panicked") {
                slots[i] = Some(result);
            }
        }
    });
    slots
        .into_iter()
        .map(|r| r.expect("every item was taken by a worker"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::map_in_order;

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
    }
}
