//! The process's memory allocator: jemalloc, with a configuration that keeps RSS bounded.
//!
//! Why not glibc's malloc: on a 4 KiB Get it cost ~15 % of the server's CPU (`_int_malloc`,
//! `_int_free`, `malloc_consolidate` on hyper's per-request header arrays), and with rows
//! built by blocking threads and freed by runtime threads it needed its arenas capped at 2 to
//! keep RSS flat, which cost a further ~5 %. Why not mimalloc (tried, measured, reverted):
//! it keeps a freed block's page with the thread that allocated it, so listings, whose rows
//! are built on whichever blocking thread runs each chunk, grew peak RSS with every pass
//! (200,000 tagged blobs listed twice: 222 → 338 → 423 MiB). jemalloc returns a block freed
//! by another thread to its arena through the freeing thread's cache, so that memory is
//! reused. Measured in `bench/RESULTS.md` ("The allocator").

/// jemalloc's options, read once before `main` (the `malloc_conf` hook of the crate's
/// prefixed build).
///
/// - `narenas:2`: threads share two arenas (one per core of the target machine), as glibc's
///   arenas were capped for the same reason: with the default four per CPU, memory freed in
///   one arena is not reused by threads of another, and RSS after a listing rose from ~160
///   to ~250 MiB.
/// - `background_thread:true`: unused pages are returned to the kernel by jemalloc's own
///   thread, not inline on a request's allocation.
/// - `dirty_decay_ms:1000,muzzy_decay_ms:0`: give unused pages back after about a second
///   instead of ten, so a burst (a listing, a large upload) does not hold its peak.
const MALLOC_CONF: &std::ffi::CStr = c"narenas:2,background_thread:true,dirty_decay_ms:1000,muzzy_decay_ms:0";

#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// A C string pointer that jemalloc reads as `const char *`.
#[repr(transparent)]
struct ConfPointer(*const std::ffi::c_char);

// SAFETY: the pointer is to a `'static`, immutable, NUL-terminated string.
#[allow(unsafe_code)]
unsafe impl Sync for ConfPointer {}

#[allow(unsafe_code, non_upper_case_globals)]
#[export_name = "_rjem_malloc_conf"]
static _rjem_malloc_conf: ConfPointer = ConfPointer(MALLOC_CONF.as_ptr());
