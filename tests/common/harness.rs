//! A test binary whose tests need a server that may be missing here (`harness = false`,
//! libtest-mimic): without it they are reported `ignored (reason)`, not `ok`, and fail
//! when the environment variable that CI sets requires the server.

use std::future::Future;
use std::process::{Command, ExitCode};

use libtest_mimic::{Arguments, Completion, Trial};

/// What a suite's tests need, and whether it is here.
pub struct Needs {
    /// Why the tests cannot run here, if they cannot.
    missing: Option<String>,
    /// Set (by `.ci/run`): a missing server fails the tests instead of ignoring them.
    required_by: &'static str,
}

impl Needs {
    /// panva's oidc-provider on Node.js (tests/interop), required by `TOWER_BEARER_REQUIRE_INTEROP`.
    pub fn oidc_provider() -> Self {
        Self { missing: super::oidc_provider::unavailable(), required_by: "TOWER_BEARER_REQUIRE_INTEROP" }
    }

    /// redis-server and redis-cli on PATH, required by `TOWER_BEARER_REQUIRE_REDIS`.
    pub fn redis_server() -> Self {
        let missing = ["redis-server", "redis-cli"]
            .into_iter()
            .find(|program| !runs(program))
            .map(|program| format!("needs redis-server ({program} is not on PATH): apt-get install redis-server"));
        Self { missing, required_by: "TOWER_BEARER_REQUIRE_REDIS" }
    }

    /// A trial running `test` on its own tokio runtime (current-thread, like
    /// `#[tokio::test]`), or ignored with the reason when the server is missing.
    pub fn trial<F: Future<Output = ()> + 'static>(&self, name: &str, test: fn() -> F) -> Trial {
        let missing = self.missing.clone();
        let required_by = self.required_by;
        Trial::ignorable_test(name, move || {
            if let Some(why) = missing {
                if std::env::var_os(required_by).is_some() {
                    return Err(format!("{required_by} is set but the server is missing: {why}").into());
                }
                return Ok(Completion::ignored_with(why));
            }
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            runtime.block_on(test());
            Ok(Completion::Completed)
        })
    }
}

/// Whether `program --version` runs.
pub fn runs(program: &str) -> bool {
    Command::new(program).arg("--version").output().is_ok_and(|out| out.status.success())
}

/// One trial per test function, named after it: `trials![needs; first_test, second_test]`.
#[macro_export]
macro_rules! trials {
    ($needs:expr; $($test:ident),+ $(,)?) => {
        vec![$($needs.trial(stringify!($test), $test)),+]
    };
}

/// Runs `trials` with the command-line arguments `cargo test` passed.
pub fn run(trials: Vec<Trial>) -> ExitCode {
    libtest_mimic::run(&Arguments::from_args(), trials).exit_code()
}
