//! proceeds: an asset-recovery financial tracing engine.
//!
//! Disclosed bank statements and money-transfer records go in; a canonical ledger with
//! provenance on every row, integrity checks, detection findings, traced flows and the
//! schedules for a confiscation order come out. The pipeline is described in
//! `docs/architecture.md`; each stage is a module below.

pub mod batches;
pub mod case;
pub mod cli;
pub mod confiscation;
pub mod error;
pub mod groups;
pub mod hash;
pub mod ingest;
pub mod integrity;
pub mod ledger;
pub mod money;
pub mod parallel;
pub mod pipeline;
pub mod report;
pub mod rules;
pub mod synth;
pub mod trace;
pub mod verify;

pub use error::Error;

/// Every binary built on this library (the CLI, tests, benchmarks) allocates through
/// mimalloc, which keeps freed pages for reuse instead of zeroing fresh ones for every
/// large column (docs/decisions.md). The feature `system-allocator` leaves it out, so that
/// heap profilers that watch `malloc` (valgrind's DHAT, heaptrack) see every allocation.
#[cfg(not(feature = "system-allocator"))]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Give the pages the allocator holds free back to the system. mimalloc keeps freed pages
/// for reuse, which saves zeroing fresh ones inside a stage; between stages they only raise
/// the next stage's peak: after ingest at 10M rows, 6.3 GB resident held a 4.2 GB ledger.
/// Called at the end of each stage of a run (`pipeline::run_to`) and after the trace's
/// preparation.
pub fn give_back_free_memory() {
    #[cfg(not(feature = "system-allocator"))]
    // SAFETY: `mi_collect` takes no pointers and may be called at any time from any thread;
    // it only returns pages no allocation uses.
    unsafe {
        libmimalloc_sys::mi_collect(true)
    };
}
