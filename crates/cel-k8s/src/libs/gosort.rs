//! Go's `sort.Slice` (pattern-defeating quicksort, `sort/zsortfunc.go` of Go 1.19 and later),
//! step for step, so that `sort()` and `sortBy()` leave elements that do not order (NaN) or that
//! order equal (`sortBy` keys) where Kubernetes' cel-go leaves them. The algorithm is
//! deterministic: its pattern breaking draws from a xorshift seeded with the length.

/// Sorts `data` with Go's `sort.Slice` given its `less` (called with two elements of `data`).
pub(crate) fn slice<T>(data: &mut [T], less: impl FnMut(&T, &T) -> bool) {
    let length = data.len();
    let limit = bits_len(length);
    let mut sorter = Sorter { data, less };
    sorter.pdqsort(0, length, limit);
}

/// Go's `bits.Len`: the number of bits needed to represent `x`.
fn bits_len(x: usize) -> usize {
    (usize::BITS - x.leading_zeros()) as usize
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Hint {
    Unknown,
    Increasing,
    Decreasing,
}

struct Sorter<'d, T, F> {
    data: &'d mut [T],
    less: F,
}

impl<T, F: FnMut(&T, &T) -> bool> Sorter<'_, T, F> {
    fn less(&mut self, i: usize, j: usize) -> bool {
        (self.less)(&self.data[i], &self.data[j])
    }

    fn swap(&mut self, i: usize, j: usize) {
        self.data.swap(i, j);
    }

    fn insertion_sort(&mut self, a: usize, b: usize) {
        for i in a + 1..b {
            let mut j = i;
            while j > a && self.less(j, j - 1) {
                self.swap(j, j - 1);
                j -= 1;
            }
        }
    }

    fn sift_down(&mut self, lo: usize, hi: usize, first: usize) {
        let mut root = lo;
        loop {
            let mut child = 2 * root + 1;
            if child >= hi {
                return;
            }
            if child + 1 < hi && self.less(first + child, first + child + 1) {
                child += 1;
            }
            if !self.less(first + root, first + child) {
                return;
            }
            self.swap(first + root, first + child);
            root = child;
        }
    }

    fn heap_sort(&mut self, a: usize, b: usize) {
        let first = a;
        let hi = b - a;
        // Only called on more than 12 elements: hi >= 13.
        for i in (0..=(hi - 1) / 2).rev() {
            self.sift_down(i, hi, first);
        }
        for i in (0..hi).rev() {
            self.swap(first, first + i);
            self.sift_down(0, i, first);
        }
    }

    fn pdqsort(&mut self, mut a: usize, mut b: usize, mut limit: usize) {
        const MAX_INSERTION: usize = 12;
        let mut was_balanced = true;
        let mut was_partitioned = true;
        loop {
            let length = b - a;
            if length <= MAX_INSERTION {
                self.insertion_sort(a, b);
                return;
            }
            if limit == 0 {
                self.heap_sort(a, b);
                return;
            }
            if !was_balanced {
                self.break_patterns(a, b);
                limit -= 1;
            }
            let (mut pivot, mut hint) = self.choose_pivot(a, b);
            if hint == Hint::Decreasing {
                self.reverse_range(a, b);
                pivot = (b - 1) - (pivot - a);
                hint = Hint::Increasing;
            }
            if was_balanced
                && was_partitioned
                && hint == Hint::Increasing
                && self.partial_insertion_sort(a, b)
            {
                return;
            }
            if a > 0 && !self.less(a - 1, pivot) {
                a = self.partition_equal(a, b, pivot);
                continue;
            }
            let (mid, already_partitioned) = self.partition(a, b, pivot);
            was_partitioned = already_partitioned;
            let (left, right) = (mid - a, b - mid);
            let balance_threshold = length / 8;
            if left < right {
                was_balanced = left >= balance_threshold;
                self.pdqsort(a, mid, limit);
                a = mid + 1;
            } else {
                was_balanced = right >= balance_threshold;
                self.pdqsort(mid + 1, b, limit);
                b = mid;
            }
        }
    }

    fn partition(&mut self, a: usize, b: usize, pivot: usize) -> (usize, bool) {
        self.swap(a, pivot);
        // Go's i and j are ints and j may reach a; here j + 1 stands for j.
        let (mut i, mut j) = (a + 1, b);
        while i < j && self.less(i, a) {
            i += 1;
        }
        while i < j && !self.less(j - 1, a) {
            j -= 1;
        }
        if i >= j {
            self.swap(j - 1, a);
            return (j - 1, true);
        }
        self.swap(i, j - 1);
        i += 1;
        j -= 1;
        loop {
            while i < j && self.less(i, a) {
                i += 1;
            }
            while i < j && !self.less(j - 1, a) {
                j -= 1;
            }
            if i >= j {
                break;
            }
            self.swap(i, j - 1);
            i += 1;
            j -= 1;
        }
        self.swap(j - 1, a);
        (j - 1, false)
    }

    fn partition_equal(&mut self, a: usize, b: usize, pivot: usize) -> usize {
        self.swap(a, pivot);
        let (mut i, mut j) = (a + 1, b);
        loop {
            while i < j && !self.less(a, i) {
                i += 1;
            }
            while i < j && self.less(a, j - 1) {
                j -= 1;
            }
            if i >= j {
                break;
            }
            self.swap(i, j - 1);
            i += 1;
            j -= 1;
        }
        i
    }

    fn partial_insertion_sort(&mut self, a: usize, b: usize) -> bool {
        const MAX_STEPS: usize = 5;
        const SHORTEST_SHIFTING: usize = 50;
        let mut i = a + 1;
        for _ in 0..MAX_STEPS {
            while i < b && !self.less(i, i - 1) {
                i += 1;
            }
            if i == b {
                return true;
            }
            if b - a < SHORTEST_SHIFTING {
                return false;
            }
            self.swap(i, i - 1);
            if i - a >= 2 {
                let mut j = i - 1;
                while j >= 1 {
                    if !self.less(j, j - 1) {
                        break;
                    }
                    self.swap(j, j - 1);
                    j -= 1;
                }
            }
            if b - i >= 2 {
                for j in i + 1..b {
                    if !self.less(j, j - 1) {
                        break;
                    }
                    self.swap(j, j - 1);
                }
            }
        }
        false
    }

    fn break_patterns(&mut self, a: usize, b: usize) {
        let length = b - a;
        if length >= 8 {
            let mut random = length as u64;
            let modulus = 1usize << bits_len(length);
            let start = a + (length / 4) * 2 - 1;
            for idx in start..=start + 2 {
                random ^= random << 13;
                random ^= random >> 7;
                random ^= random << 17;
                let mut other = (random as usize) & (modulus - 1);
                if other >= length {
                    other -= length;
                }
                self.swap(idx, a + other);
            }
        }
    }

    fn choose_pivot(&mut self, a: usize, b: usize) -> (usize, Hint) {
        const SHORTEST_NINTHER: usize = 50;
        const MAX_SWAPS: usize = 4 * 3;
        let l = b - a;
        let mut swaps = 0;
        let mut i = a + l / 4;
        let mut j = a + l / 4 * 2;
        let mut k = a + l / 4 * 3;
        if l >= 8 {
            if l >= SHORTEST_NINTHER {
                i = self.median_adjacent(i, &mut swaps);
                j = self.median_adjacent(j, &mut swaps);
                k = self.median_adjacent(k, &mut swaps);
            }
            j = self.median(i, j, k, &mut swaps);
        }
        match swaps {
            0 => (j, Hint::Increasing),
            MAX_SWAPS => (j, Hint::Decreasing),
            _ => (j, Hint::Unknown),
        }
    }

    fn order2(&mut self, a: usize, b: usize, swaps: &mut usize) -> (usize, usize) {
        if self.less(b, a) {
            *swaps += 1;
            return (b, a);
        }
        (a, b)
    }

    fn median(&mut self, a: usize, b: usize, c: usize, swaps: &mut usize) -> usize {
        let (a, b) = self.order2(a, b, swaps);
        let (b, c) = self.order2(b, c, swaps);
        let _ = c;
        let (_, b) = self.order2(a, b, swaps);
        b
    }

    fn median_adjacent(&mut self, a: usize, swaps: &mut usize) -> usize {
        self.median(a - 1, a, a + 1, swaps)
    }

    fn reverse_range(&mut self, a: usize, b: usize) {
        let (mut i, mut j) = (a, b - 1);
        while i < j {
            self.swap(i, j);
            i += 1;
            j -= 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::slice;

    /// The keys of a golden case, generated as `integration/kube/cmd/go-sort-golden` does.
    fn keys(pattern: &str, n: usize, seed: u64, modulus: u64, nan_every: u64) -> Vec<f64> {
        match pattern {
            "random" => {
                let mut x = seed;
                (0..n)
                    .map(|_| {
                        x = x
                            .wrapping_mul(6364136223846793005)
                            .wrapping_add(1442695040888963407);
                        if nan_every > 0 && (x >> 20) % nan_every == 0 {
                            f64::NAN
                        } else {
                            ((x >> 33) % modulus) as f64
                        }
                    })
                    .collect()
            }
            "descending" => (0..n).map(|i| (n - i) as f64).collect(),
            "ascending-ties" => (0..n).map(|i| (i / 3) as f64).collect(),
            "organ" => (0..n).map(|i| i.min(n - i) as f64).collect(),
            other => panic!("unknown pattern {other}"),
        }
    }

    /// Go's own `sort.Slice` (Go 1.26) on the same keys: the same permutation, NaN and ties
    /// included, through insertion sort, ninther pivots, pattern breaking and partial sorts.
    #[test]
    fn the_permutation_is_gos() {
        let golden = include_str!("testdata/go-sort-slice.txt");
        let mut cases = 0;
        for line in golden.lines() {
            let fields: Vec<&str> = line.split(' ').collect();
            let [pattern, n, seed, modulus, nan_every, expected] = fields[..] else {
                panic!("malformed golden line: {line}");
            };
            let n: usize = n.parse().unwrap();
            let keys = keys(
                pattern,
                n,
                seed.parse().unwrap(),
                modulus.parse().unwrap(),
                nan_every.parse().unwrap(),
            );
            let mut order: Vec<usize> = (0..n).collect();
            slice(&mut order, |&a, &b| keys[a] < keys[b]);
            let got: Vec<String> = order.iter().map(usize::to_string).collect();
            assert_eq!(
                got.join(","),
                expected,
                "{pattern} {n} {seed} {modulus} {nan_every}"
            );
            cases += 1;
        }
        assert_eq!(cases, 84);
    }
}
