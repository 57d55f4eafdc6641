//! Where a token's roles are read.

use std::sync::Arc;

use super::ClaimPath;

/// Where a token's roles are read: the paths behind [`VerifiedToken::roles`] (and
/// `policy::role`), and named sources kept apart from them, such as Keycloak's client
/// roles, behind [`VerifiedToken::roles_in`] (and `policy::role_in`).
#[derive(Debug, Clone, Default)]
pub(crate) struct RoleSources {
    pub(crate) roles: Vec<ClaimPath>,
    pub(crate) named: Vec<(Arc<str>, ClaimPath)>,
}

impl RoleSources {
    pub(crate) fn from_paths(roles: Vec<ClaimPath>) -> Self {
        Self { roles, named: Vec::new() }
    }
}
