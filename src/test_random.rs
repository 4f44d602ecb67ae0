//! A seeded xorshift generator for the unit tests that build random inputs (the same inputs on
//! every run).

/// `random(n)` gives a number below `n`, from `seed` (not zero).
pub(crate) fn xorshift(mut seed: u64) -> impl FnMut(usize) -> usize {
    move |n: usize| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        (seed % n as u64) as usize
    }
}
