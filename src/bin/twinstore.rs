//! The `twinstore` binary; everything lives in [`twinstore::cli`].

fn main() -> std::process::ExitCode {
    twinstore::cli::main()
}
