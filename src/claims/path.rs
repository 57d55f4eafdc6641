//! [`ClaimPath`]: where a claim lives in a token.

use std::sync::Arc;

use serde_json::{Map, Value};

/// Where a claim lives in a token: `roles`, `realm_access.roles`,
/// `resource_access.my-client.roles`, `permissions`, `groups`...
///
/// Paths are unambiguous: a `.` always separates nested members, and a top-level
/// member whose name contains a dot never stands in for the nested path. Write a
/// literal dot as `\.` (and a literal backslash as `\\`), or name one top-level
/// member with [`ClaimPath::key`], as namespaced claims such as Auth0's need:
///
/// ```
/// use serde_json::json;
/// use tower_bearer::ClaimPath;
///
/// let claims = json!({
///     "realm_access": {"roles": ["user"]},
///     "realm_access.roles": ["admin"],
///     "https://example.com/roles": ["support"],
/// });
/// let claims = claims.as_object().unwrap();
/// assert_eq!(ClaimPath::new("realm_access.roles").lookup(claims), Some(&json!(["user"])));
/// assert_eq!(ClaimPath::new(r"realm_access\.roles").lookup(claims), Some(&json!(["admin"])));
/// assert_eq!(ClaimPath::key("https://example.com/roles").lookup(claims), Some(&json!(["support"])));
/// assert_eq!(ClaimPath::new("https://example.com/roles").lookup(claims), None, "dots split");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimPath {
    /// As written (escaped), for messages.
    text: Arc<str>,
    segments: Arc<[Box<str>]>,
}

impl ClaimPath {
    /// A dotted path such as `realm_access.roles` (`\.` is a literal dot).
    pub fn new(path: impl Into<Arc<str>>) -> Self {
        let text = path.into();
        let mut segments = Vec::new();
        let mut current = String::new();
        let mut chars = text.chars();
        while let Some(c) = chars.next() {
            match c {
                '\\' => match chars.next() {
                    Some(next) => current.push(next),
                    None => current.push('\\'),
                },
                '.' => segments.push(std::mem::take(&mut current).into_boxed_str()),
                _ => current.push(c),
            }
        }
        segments.push(current.into_boxed_str());
        Self { text, segments: segments.into() }
    }

    /// One top-level member, named exactly (dots and all), e.g. a namespaced claim
    /// `https://example.com/roles`.
    pub fn key(name: &str) -> Self {
        Self::from_segments([name])
    }

    /// A path given as its member names, outermost first; no escaping involved.
    pub fn from_segments<I, S>(segments: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let segments: Vec<Box<str>> = segments.into_iter().map(|s| Box::from(s.as_ref())).collect();
        let text = segments.iter().map(|s| s.replace('\\', "\\\\").replace('.', "\\.")).collect::<Vec<_>>().join(".");
        Self { text: text.into(), segments: segments.into() }
    }

    /// The path as written (a literal dot shown as `\.`).
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The value at this path in `claims`.
    pub fn lookup<'a>(&self, claims: &'a Map<String, Value>) -> Option<&'a Value> {
        let (first, rest) = self.segments.split_first()?;
        let mut current = claims.get(&**first)?;
        for part in rest {
            current = current.as_object()?.get(&**part)?;
        }
        Some(current)
    }
}

impl From<&str> for ClaimPath {
    fn from(s: &str) -> Self {
        Self::new(s)
    }
}

impl From<String> for ClaimPath {
    fn from(s: String) -> Self {
        Self::new(s)
    }
}
