//! STUB: checking one DPoP proof.

use super::Config;
use crate::reject::AuthError;
use crate::token::RequestHead;

/// A proof that passed every check: what handlers may read.
#[derive(Debug, Clone)]
pub struct DpopProof {
    pub(crate) jkt: [u8; 32],
}

pub(crate) fn check_proof(
    config: &Config,
    req: &RequestHead<'_>,
    token: &[u8],
    now: u64,
) -> Result<DpopProof, AuthError> {
    let _ = (config, req, token, now);
    Err(AuthError::MissingToken)
}
