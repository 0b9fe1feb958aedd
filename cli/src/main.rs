//! The `twinstore` binary; everything lives in [`twinstore_cli::cli`].
//!
//! The allocator is mimalloc: a node allocates and frees small buffers on many threads for every
//! write (gRPC frames, commands, documents, sled nodes), and glibc's malloc spent about a sixth of
//! all CPU at peak (issue 11's profile). The README's benchmarks say what it changed.

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    twinstore_cli::cli::main()
}
