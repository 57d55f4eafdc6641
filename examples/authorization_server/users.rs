//! The example's users: logins and passwords, kept only hashed. A real application
//! checks passwords against its own user store; the server never sees them.

use std::collections::HashMap;
use std::error::Error;

use serde::Deserialize;
use tower_bearer::issue::server::SecretHash;

pub(crate) struct Users(HashMap<String, SecretHash>);

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct User {
    login: String,
    password: String,
}

impl Users {
    pub(crate) fn from_json(text: &str) -> Result<Self, Box<dyn Error>> {
        let users: Vec<User> = serde_json::from_str(text)?;
        let mut map = HashMap::new();
        for u in users {
            if map.insert(u.login.clone(), SecretHash::new(&u.password)?).is_some() {
                return Err(format!("user {} is listed twice", u.login).into());
            }
        }
        Ok(Self(map))
    }

    pub(crate) fn demo() -> Result<Self, Box<dyn Error>> {
        Self::from_json(r#"[{"login": "alice", "password": "alice"}]"#)
    }

    /// The login, when `password` is its password (compared in constant time; an
    /// unknown login costs the same hash).
    pub(crate) fn check(&self, login: &str, password: &str) -> Option<String> {
        match self.0.get(login) {
            Some(hash) => hash.matches(password).then(|| login.to_owned()),
            None => None,
        }
    }
}
