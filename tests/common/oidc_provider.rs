//! panva's oidc-provider (from npm, pinned in tests/interop) as a test fixture.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use reqwest::StatusCode;
use serde_json::Value;

pub fn interop_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests").join("interop")
}

/// Why the suite cannot run here, if it cannot.
pub fn unavailable() -> Option<String> {
    if !super::harness::runs("node") {
        return Some("needs Node.js (node is not on PATH) and `npm ci --prefix tests/interop`".into());
    }
    if !interop_dir().join("node_modules").join("oidc-provider").exists() {
        return Some("needs oidc-provider from npm: `npm ci --prefix tests/interop`".into());
    }
    None
}

/// One oidc-provider process; killed on drop (and it exits by itself after 2 minutes).
pub struct Idp {
    child: Child,
    port: u16,
    scheme: &'static str,
    pub keys_file: PathBuf,
}

impl Idp {
    pub fn start(port: u16, keys_file: &PathBuf, rotate: bool) -> Idp {
        Self::start_with(port, keys_file, rotate, &[])
    }

    /// With more of server.mjs' environment (`TLS_CERT` and `TLS_KEY`: HTTPS, mTLS;
    /// `DPOP_NONCE`).
    pub fn start_with(port: u16, keys_file: &PathBuf, rotate: bool, env: &[(&str, &str)]) -> Idp {
        // Node has been seen to hang at start-up, rarely, before printing anything (a
        // main thread parked on a futex, no CPU used): a bounded wait, then a new
        // process, so a run never hangs on it.
        for attempt in 1..=3 {
            if let Some(idp) = Self::try_start(port, keys_file, rotate, env) {
                return idp;
            }
            eprintln!("oidc-provider did not print `ready` within 30 s (attempt {attempt}); starting it again");
        }
        panic!("oidc-provider did not start after 3 attempts");
    }

    fn try_start(port: u16, keys_file: &PathBuf, rotate: bool, env: &[(&str, &str)]) -> Option<Idp> {
        let mut cmd = Command::new("node");
        cmd.arg(interop_dir().join("server.mjs"))
            .env("PORT", port.to_string())
            .env("KEYS_FILE", keys_file)
            .env("ROTATE", if rotate { "1" } else { "0" })
            .env("LIFETIME_MS", "120000")
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        let scheme = if env.iter().any(|(k, _)| *k == "TLS_CERT") { "https" } else { "http" };
        let mut child = cmd.spawn().expect("start oidc-provider");
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines();
            let _ = tx.send(lines.next().and_then(Result::ok).unwrap_or_default());
            // Keep reading: a closed pipe would kill the server at its next write.
            lines.for_each(drop);
        });
        match rx.recv_timeout(std::time::Duration::from_secs(30)) {
            Ok(ready) => {
                assert!(ready.starts_with("ready "), "oidc-provider did not start: {ready:?}");
                Some(Idp { child, port, scheme, keys_file: keys_file.clone() })
            }
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                None
            }
        }
    }

    pub fn issuer(&self) -> String {
        format!("{}://127.0.0.1:{}", self.scheme, self.port)
    }

    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// A client-credentials token from the real token endpoint.
    pub async fn token(&self, client: &str, scope: &str, resource: &str) -> String {
        // A fresh connection each time: the IdP restarts on the same port.
        let http = reqwest::Client::builder().pool_max_idle_per_host(0).build().unwrap();
        let res = http
            .post(format!("{}/token", self.issuer()))
            .basic_auth(client, Some(format!("{client}-secret")))
            .form(&[("grant_type", "client_credentials"), ("scope", scope), ("resource", resource)])
            .send()
            .await
            .unwrap();
        let status = res.status();
        let body: Value = res.json().await.unwrap();
        assert_eq!(status, StatusCode::OK, "{body}");
        body["access_token"].as_str().unwrap().to_owned()
    }
}

impl Drop for Idp {
    fn drop(&mut self) {
        self.stop();
    }
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

impl Idp {
    /// Revokes `token` (RFC 7009) as the client it was issued to.
    pub async fn revoke(&self, client: &str, token: &str) {
        let http = reqwest::Client::builder().pool_max_idle_per_host(0).build().unwrap();
        let res = http
            .post(format!("{}/token/revocation", self.issuer()))
            .basic_auth(client, Some(format!("{client}-secret")))
            .form(&[("token", token), ("token_type_hint", "access_token")])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK);
    }

    /// Starts a fresh IdP on a free port with its own key file.
    pub fn start_fresh() -> Idp {
        Self::start_fresh_with(&[])
    }

    /// [`start_fresh`](Self::start_fresh) with more of server.mjs's environment.
    pub fn start_fresh_with(env: &[(&str, &str)]) -> Idp {
        let port = free_port();
        let keys_file = std::env::temp_dir().join(format!("tower-bearer-interop-{port}.json"));
        let _ = std::fs::remove_file(&keys_file);
        Idp::start_with(port, &keys_file, false, env)
    }
}
