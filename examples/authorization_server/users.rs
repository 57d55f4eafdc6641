//! The example's users: logins and passwords, kept only as slow salted hashes. A real
//! application checks passwords against its own user store; the server never sees them.

use std::collections::HashMap;
use std::error::Error;
use std::num::NonZeroU32;

use aws_lc_rs::pbkdf2::{PBKDF2_HMAC_SHA256, derive, verify};
use serde::Deserialize;

/// PBKDF2-HMAC-SHA256 rounds: slow enough that a stolen users file costs a guesser
/// real work, quick enough for the tests' debug builds (about 15 ms there). A real
/// deployment hashes with argon2id in its user store, with OWASP's parameters (or
/// PBKDF2 at OWASP's 600 000 rounds).
const ROUNDS: NonZeroU32 = NonZeroU32::new(20_000).unwrap();

/// One stored password: its salt and derived key.
struct PasswordHash {
    salt: [u8; 16],
    key: [u8; 32],
}

impl PasswordHash {
    fn new(password: &str) -> Result<Self, Box<dyn Error>> {
        let mut salt = [0; 16];
        aws_lc_rs::rand::fill(&mut salt).map_err(|_| "no random salt")?;
        let mut key = [0; 32];
        derive(PBKDF2_HMAC_SHA256, ROUNDS, &salt, password.as_bytes(), &mut key);
        Ok(Self { salt, key })
    }

    /// Whether `password` derives the same key (compared in constant time).
    fn matches(&self, password: &str) -> bool {
        verify(PBKDF2_HMAC_SHA256, ROUNDS, &self.salt, password.as_bytes(), &self.key).is_ok()
    }
}

pub(crate) struct Users {
    hashes: HashMap<String, PasswordHash>,
    /// What an unknown login is checked against: it costs the same hash as a known
    /// one, so the time of a failure does not tell which logins exist.
    dummy: PasswordHash,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct User {
    login: String,
    password: String,
}

impl Users {
    pub(crate) fn from_json(text: &str) -> Result<Self, Box<dyn Error>> {
        let users: Vec<User> = serde_json::from_str(text)?;
        let mut hashes = HashMap::new();
        for u in users {
            if hashes.insert(u.login.clone(), PasswordHash::new(&u.password)?).is_some() {
                return Err(format!("user {} is listed twice", u.login).into());
            }
        }
        let mut unguessable = [0; 32];
        aws_lc_rs::rand::fill(&mut unguessable).map_err(|_| "no random dummy password")?;
        let dummy = PasswordHash::new(&String::from_utf8_lossy(&unguessable))?;
        Ok(Self { hashes, dummy })
    }

    pub(crate) fn demo() -> Result<Self, Box<dyn Error>> {
        Self::from_json(r#"[{"login": "alice", "password": "alice"}]"#)
    }

    /// The login, when `password` is its password. Slow on purpose (run it off the
    /// async workers); an unknown login costs the same.
    pub(crate) fn check(&self, login: &str, password: &str) -> Option<String> {
        match self.hashes.get(login) {
            Some(hash) => hash.matches(password).then(|| login.to_owned()),
            None => {
                let _ = self.dummy.matches(password);
                None
            }
        }
    }
}
