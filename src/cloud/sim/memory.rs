//! Heap accounting that tells the simulated account's memory from the engine's, for the
//! benchmark's engine-cost figures. The simulator runs in reroll's own process, so the
//! kernel's peak resident size is both together; this counts every heap allocation by who
//! made it.
//!
//! [`Counting`] is a global allocator over the system one. Each allocation carries a small
//! header recording its owner: the simulator while a thread is inside it moving the world
//! along, loading or saving it (the spans its CPU time is counted over, [`in_simulator`]),
//! reroll otherwise — including the request a call carries out on the world and the answer
//! it builds ([`outside_simulator`]), which against AWS the SDK would hold in reroll's memory.
//! A free is charged to the owner recorded at allocation. What a request adds to the world
//! itself (a new group, a tag) is counted as reroll's too: the split errs against reroll. Live bytes and their peak are kept per
//! owner. The header costs up to an alignment's worth of bytes per allocation, so the binary
//! installs it only when built with the `count-memory` feature (`bench/run.sh` does).

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

const REROLL: usize = 0;
const SIMULATOR: usize = 1;
/// Room in front of every allocation for its owner (at least 16 bytes, the strictest
/// alignment most allocations ask for).
const HEADER: usize = 16;

static LIVE: [AtomicUsize; 2] = [AtomicUsize::new(0), AtomicUsize::new(0)];
static PEAK: [AtomicUsize; 2] = [AtomicUsize::new(0), AtomicUsize::new(0)];
static INSTALLED: AtomicBool = AtomicBool::new(false);

thread_local! {
    static INSIDE: Cell<bool> = const { Cell::new(false) };
}

/// Runs `f` with this thread's allocations charged to the simulator.
pub(super) fn in_simulator<T>(f: impl FnOnce() -> T) -> T {
    let outer = INSIDE.with(|c| c.replace(true));
    let out = f();
    INSIDE.with(|c| c.set(outer));
    out
}

/// Runs `f` with this thread's allocations charged to reroll, inside the simulator: a request
/// and the answer it builds.
pub(super) fn outside_simulator<T>(f: impl FnOnce() -> T) -> T {
    let outer = INSIDE.with(|c| c.replace(false));
    let out = f();
    INSIDE.with(|c| c.set(outer));
    out
}

/// Peak live heap bytes of reroll and of the simulator, when [`Counting`] is the process's
/// allocator.
pub fn peaks() -> Option<(usize, usize)> {
    INSTALLED.load(Ordering::Relaxed).then(|| {
        (
            PEAK[REROLL].load(Ordering::Relaxed),
            PEAK[SIMULATOR].load(Ordering::Relaxed),
        )
    })
}

/// The counting allocator (see the module documentation).
pub struct Counting;

fn offset(layout: Layout) -> usize {
    layout.align().max(HEADER)
}

fn charge(owner: usize, bytes: usize) {
    let live = LIVE[owner].fetch_add(bytes, Ordering::Relaxed) + bytes;
    PEAK[owner].fetch_max(live, Ordering::Relaxed);
}

fn owner_now() -> usize {
    // `try_with`: a thread being torn down has no flag left, and is reroll's.
    if INSIDE.try_with(Cell::get).unwrap_or(false) {
        SIMULATOR
    } else {
        REROLL
    }
}

// SAFETY: every block handed out is `offset` bytes into a system block of the same
// alignment and `offset` bytes larger; the owner is written in the word just before the
// block, inside the header, and read back from there on free and realloc.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        INSTALLED.store(true, Ordering::Relaxed);
        let off = offset(layout);
        let Ok(outer) = Layout::from_size_align(layout.size() + off, layout.align().max(HEADER))
        else {
            return std::ptr::null_mut();
        };
        let base = unsafe { System.alloc(outer) };
        if base.is_null() {
            return base;
        }
        let owner = owner_now();
        unsafe {
            let ptr = base.add(off);
            (ptr.sub(size_of::<usize>()) as *mut usize).write(owner);
            charge(owner, layout.size());
            ptr
        }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        let off = offset(layout);
        unsafe {
            let owner = (ptr.sub(size_of::<usize>()) as *const usize).read();
            LIVE[owner].fetch_sub(layout.size(), Ordering::Relaxed);
            let outer =
                Layout::from_size_align_unchecked(layout.size() + off, layout.align().max(HEADER));
            System.dealloc(ptr.sub(off), outer);
        }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let off = offset(layout);
        unsafe {
            let owner = (ptr.sub(size_of::<usize>()) as *const usize).read();
            let outer =
                Layout::from_size_align_unchecked(layout.size() + off, layout.align().max(HEADER));
            let base = System.realloc(ptr.sub(off), outer, new_size + off);
            if base.is_null() {
                return base;
            }
            // The block moved or grew with its header: the owner stays.
            LIVE[owner].fetch_sub(layout.size(), Ordering::Relaxed);
            charge(owner, new_size);
            base.add(off)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_keep_alignment_and_room_for_the_owner() {
        for align in [1, 2, 8, 16, 32, 64, 4096] {
            let l = Layout::from_size_align(3, align).unwrap();
            let off = offset(l);
            assert_eq!(off % align, 0, "align {align}");
            assert!(off >= size_of::<usize>());
        }
    }
}
