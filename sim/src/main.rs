//! The `logstore-sim` command line: simulations, crash campaigns, fill and
//! wear measurements, ingest of real files, and the report. The schema
//! and each command's code are in `cli/`; this file parses and exits.

mod cli;

/// mimalloc: the campaigns allocate and free small vectors at every step
/// (a page's entries, a branch's clones), and glibc's allocator was 15 to
/// 19% of their time (`reports/profiles.md`); with this one `exhaustive`
/// on the ideal device takes 0.84x the time, a sweep 0.87x.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::process::ExitCode;

use clap::Parser;

/// Exit 0 when the command passed, 1 when it found a failure, 2 for bad
/// input (one line on stderr).
fn main() -> ExitCode {
    let parsed = match cli::Cli::try_parse() {
        Ok(parsed) => parsed,
        Err(e) if e.use_stderr() => {
            // Bad arguments: one line (`--help` teaches the rest).
            let text = e.to_string();
            eprintln!("{}", text.lines().next().unwrap_or("bad arguments").trim());
            return ExitCode::from(2);
        }
        Err(e) => {
            let _ = e.print();
            return ExitCode::SUCCESS;
        }
    };
    match parsed.run() {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::from(2)
        }
    }
}
