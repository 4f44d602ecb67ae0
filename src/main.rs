//! The `cmek-gate` binary: parse the command line, run it, map errors to exit code 2.

use clap::Parser;
use std::process::ExitCode;

/// mimalloc instead of the system's allocator: parsing YAML and evaluating CEL allocate many small
/// values, and glibc's malloc and free were about a quarter of `check`'s instructions (see the
/// README's Performance section).
#[global_allocator]
static ALLOCATOR: Mimalloc = Mimalloc;

/// mimalloc, asked for an alignment only when its blocks do not already have it.
///
/// Every mimalloc block is aligned to a word, so a layout that needs no more takes the plain
/// `mi_malloc`. `mi_malloc_aligned`, which the `mimalloc` crate calls for every layout, falls back
/// to over-allocating whenever the block size's free list is empty and the size is not a power
/// of two, and then never refills that free list: most of `check`'s allocations took that path.
struct Mimalloc;

/// The alignment of every block mimalloc hands out.
const WORD: usize = std::mem::size_of::<usize>();

// SAFETY: each function passes the layout's size, and its alignment unless the block's own
// suffices, to mimalloc, which returns null on failure, as `GlobalAlloc` requires.
unsafe impl std::alloc::GlobalAlloc for Mimalloc {
    #[inline]
    unsafe fn alloc(&self, layout: std::alloc::Layout) -> *mut u8 {
        use libmimalloc_sys::{mi_malloc, mi_malloc_aligned};
        if layout.align() <= WORD {
            unsafe { mi_malloc(layout.size()).cast() }
        } else {
            unsafe { mi_malloc_aligned(layout.size(), layout.align()).cast() }
        }
    }

    #[inline]
    unsafe fn alloc_zeroed(&self, layout: std::alloc::Layout) -> *mut u8 {
        use libmimalloc_sys::{mi_zalloc, mi_zalloc_aligned};
        if layout.align() <= WORD {
            unsafe { mi_zalloc(layout.size()).cast() }
        } else {
            unsafe { mi_zalloc_aligned(layout.size(), layout.align()).cast() }
        }
    }

    #[inline]
    unsafe fn dealloc(&self, ptr: *mut u8, _layout: std::alloc::Layout) {
        unsafe { libmimalloc_sys::mi_free(ptr.cast()) }
    }

    #[inline]
    unsafe fn realloc(&self, ptr: *mut u8, layout: std::alloc::Layout, new_size: usize) -> *mut u8 {
        use libmimalloc_sys::{mi_realloc, mi_realloc_aligned};
        if layout.align() <= WORD {
            unsafe { mi_realloc(ptr.cast(), new_size).cast() }
        } else {
            unsafe { mi_realloc_aligned(ptr.cast(), new_size, layout.align()).cast() }
        }
    }
}

fn main() -> ExitCode {
    let cli = cmek_gate::cli::Cli::parse();
    match cmek_gate::cli::run(cli) {
        Ok(code) => ExitCode::from(code as u8),
        Err(error) => {
            eprintln!("error: {}", cmek_gate::cli::error_text(&error));
            ExitCode::from(2)
        }
    }
}
