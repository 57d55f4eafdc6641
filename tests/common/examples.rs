//! The crate's example programs run as processes (built by `cargo test`).

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// `target/<profile>/examples/<name>`, built by `cargo test` alongside this test.
pub fn binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().unwrap().parent().unwrap();
    dir.join("examples").join(format!("{name}{}", std::env::consts::EXE_SUFFIX))
}

/// The `protected_api` example.
pub fn example_binary() -> PathBuf {
    binary("protected_api")
}

/// A running example, killed on drop.
pub struct Running {
    child: Child,
    pub base: String,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts the `protected_api` example with `env` and waits until it listens.
pub fn start(env: &[(&str, &str)]) -> Running {
    start_example("protected_api", env).0
}

/// Starts the example `name` with `env` (and `BIND=127.0.0.1:0`), waits until it
/// prints `listening on ADDR`, and hands back the lines it prints after that.
pub fn start_example(name: &str, env: &[(&str, &str)]) -> (Running, std::sync::mpsc::Receiver<String>) {
    let mut cmd = Command::new(binary(name));
    cmd.env("BIND", "127.0.0.1:0").stdout(Stdio::piped()).stderr(Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().unwrap_or_else(|e| panic!("run the {name} example (built by cargo test): {e}"));
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let (lines_tx, lines) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(addr) = line.strip_prefix("listening on ") {
                let _ = tx.send(addr.to_owned());
            } else {
                let _ = lines_tx.send(line);
            }
        }
    });
    let base = rx.recv_timeout(Duration::from_secs(30)).expect("the example prints `listening on http://ADDR`");
    (Running { child, base }, lines)
}
