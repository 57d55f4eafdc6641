//! `tower-bearer`: keys, tokens and answers to "why is my token refused?" for services
//! protected by the tower-bearer crate.
//!
//! One file per command: `keygen.rs`, `mint.rs`, `jwks.rs`, `inspect.rs`; `show.rs`
//! formats times and JSON for them.
//!
//! Exit codes: 0 success (for `inspect`: the layer would accept the token), 1 the
//! answer is no (token refused, no usable key), 2 a usage or input error.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod inspect;
mod jwks;
mod keygen;
mod mint;
mod show;

/// Keys, tokens and token diagnostics for services protected by tower-bearer.
#[derive(Parser)]
#[command(name = "tower-bearer", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    Keygen(keygen::Args),
    Mint(mint::Args),
    Jwks(jwks::Args),
    Inspect(inspect::Args),
}

/// A failed command: what to print on stderr, and the exit code.
pub(crate) struct Failure {
    message: String,
    code: u8,
}

impl Failure {
    /// Bad input: unreadable files, malformed keys or options (exit code 2).
    pub(crate) fn usage(message: impl std::fmt::Display) -> Self {
        Self { message: message.to_string(), code: 2 }
    }

    /// The answer is no: a refused token, no usable key (exit code 1).
    pub(crate) fn no(message: impl std::fmt::Display) -> Self {
        Self { message: message.to_string(), code: 1 }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("tower-bearer: cannot start the async runtime: {e}");
            return ExitCode::from(2);
        }
    };
    let result = match cli.command {
        Command::Keygen(args) => keygen::run(args),
        Command::Mint(args) => mint::run(args),
        Command::Jwks(args) => runtime.block_on(jwks::run(args)),
        Command::Inspect(args) => runtime.block_on(inspect::run(args)),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure { message, code }) => {
            if !message.is_empty() {
                eprintln!("tower-bearer: {message}");
            }
            ExitCode::from(code)
        }
    }
}
