//! [`NameSet`]: the scopes or roles a token carries.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A set of names, scopes or roles, in the order the token listed them, without
/// duplicates: what [`VerifiedToken::scopes`](crate::VerifiedToken::scopes) and
/// [`VerifiedToken::roles`](crate::VerifiedToken::roles) return.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct NameSet(Vec<String>);

impl NameSet {
    /// Whether `name` is in the set (exact, case-sensitive match).
    pub fn contains(&self, name: &str) -> bool {
        self.0.iter().any(|n| n == name)
    }

    /// The names.
    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(String::as_str)
    }

    /// Number of names.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub(super) fn push(&mut self, name: &str) {
        if !name.is_empty() && !self.contains(name) {
            self.0.push(name.to_owned());
        }
    }
}

impl fmt::Debug for NameSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(&self.0).finish()
    }
}

impl<S: AsRef<str>> FromIterator<S> for NameSet {
    fn from_iter<I: IntoIterator<Item = S>>(iter: I) -> Self {
        let mut set = Self::default();
        for s in iter {
            set.push(s.as_ref());
        }
        set
    }
}
