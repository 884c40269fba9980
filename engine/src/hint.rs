//! Cache hints for loops whose next reads are known ahead but land at random places of arrays
//! larger than the caches: the resolve loop's holders, a look-up's representative cells, the
//! first level's group heads, the integration ids a render block shows.

/// How many items ahead loops over every record or candidate fetch what an item will read at
/// random (a group head, a representative cell, a holder): enough to hide a memory access
/// behind the items in between, few enough that the line is still in cache when it is read.
pub(crate) const AHEAD: usize = 16;

/// Starts loading the cache line of `item`, so that a read of it some iterations later finds
/// it in cache. A hint: it changes no result, and is a no-op on targets without one.
#[inline(always)]
#[allow(unsafe_code)]
pub(crate) fn prefetch<T>(item: &T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch reads no memory the program sees and cannot fault; SSE, which provides
    // it, is part of every x86-64 target. The pointer comes from a live reference.
    unsafe {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        _mm_prefetch::<_MM_HINT_T0>((item as *const T).cast());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = item;
}
