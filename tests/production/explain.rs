//! `JwtVerifier::explain` runs the verifier's own checks: on every token its verdict
//! is `verify`'s, its steps end at the check that refused, and that step carries the
//! very error `verify` answers with.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::json;
use tower_bearer::testing::{Outage, TestIssuer};
use tower_bearer::token::BearerToken;
use tower_bearer::{Algorithm, AuthError, Check, InvalidToken, JwtVerifier, Verifier as _};

fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs()
}

/// The check that refused a token and the error it answered, or `None` when accepted.
type Refusal = Option<(Check, AuthError)>;

/// `explain` and `verify` agree on `token`; returns the failed check, if any.
async fn agree(verifier: &JwtVerifier, token: &str) -> Refusal {
    let explained = verifier.explain(token).await;
    let verified = verifier.verify(&BearerToken::new(token)).resolve().await;
    let steps = &explained.steps;
    assert_eq!(steps.first().map(|s| s.check), Some(Check::Syntax), "{steps:?}");
    if let Some(Err(syntax)) = steps.first().map(|s| &s.outcome) {
        // The layer refuses it before any verifier sees it; `verify` refuses it too.
        assert_eq!(steps.len(), 1, "{steps:?}");
        assert_eq!(explained.verdict.as_ref().err(), Some(syntax));
        assert!(verified.is_err());
        return Some((Check::Syntax, syntax.clone()));
    }
    match (&explained.verdict, &verified) {
        (Ok(a), Ok(b)) => {
            assert_eq!(a.claims(), b.claims());
            assert!(steps.iter().all(|s| s.outcome.is_ok()), "{steps:?}");
            assert_eq!(steps.last().map(|s| s.check), Some(Check::Binding), "{steps:?}");
            None
        }
        (Err(a), Err(b)) => {
            assert_eq!(a, b, "explain and verify disagree");
            let last = steps.last().unwrap();
            assert_eq!(last.outcome.as_ref().err(), Some(a), "the last step is the refusal: {steps:?}");
            // Only a kid miss before a refetch fails without ending the pipeline.
            for step in &steps[..steps.len() - 1] {
                assert!(step.outcome.is_ok() || step.check == Check::KeyLookup, "{steps:?}");
            }
            Some((last.check, a.clone()))
        }
        (a, b) => panic!("explain says {a:?}, verify says {b:?}"),
    }
}

#[tokio::test]
async fn explain_agrees_with_verify_on_every_kind_of_token() {
    let idp = TestIssuer::start().await;
    let verifier = idp.verifier_builder().no_token_cache().build().unwrap();
    let invalid = |t: InvalidToken| -> AuthError { t.into() };
    let hs_key = idp.add_key(Algorithm::HS256);
    let hs = idp.token().kid(&hs_key).sign();
    let rs_key = idp.add_key(Algorithm::RS256);
    let good = idp.token().kid(&rs_key).sign();
    let (signed, _) = good.rsplit_once('.').unwrap();
    let other = idp.token().kid(&rs_key).subject("x").sign();
    let forged = format!("{signed}.{}", other.rsplit_once('.').unwrap().1);
    let dpop = tower_bearer::signing::DpopKey::generate(Algorithm::ES256).unwrap();
    let cases: Vec<(&str, String, Refusal)> = vec![
        ("good", good.clone(), None),
        (
            "bad syntax",
            "not a token".into(),
            Some((Check::Syntax, tower_bearer::InvalidRequest::MalformedHeader.into())),
        ),
        ("two parts", "a.b".into(), Some((Check::Compact, invalid(InvalidToken::Malformed)))),
        ("JWE", "a.b.c.d.e".into(), Some((Check::Compact, invalid(InvalidToken::Encrypted)))),
        (
            "alg none",
            idp.token().header("alg", json!("none")).sign(),
            Some((Check::Algorithm, invalid(InvalidToken::Algorithm))),
        ),
        (
            "crit",
            idp.token().header("crit", json!(["x"])).sign(),
            Some((Check::Critical, invalid(InvalidToken::CriticalHeader))),
        ),
        ("typ", idp.token().header("typ", json!("JOSE")).sign(), Some((Check::Type, invalid(InvalidToken::Type)))),
        (
            "issuer",
            idp.token().issuer("https://elsewhere").sign(),
            Some((Check::Issuer, invalid(InvalidToken::Issuer))),
        ),
        ("expired", idp.token().issued_at(now() - 3600).sign(), Some((Check::Expiry, invalid(InvalidToken::Expired)))),
        (
            "nbf",
            idp.token().claim("nbf", json!(now() + 600)).sign(),
            Some((Check::NotBefore, invalid(InvalidToken::NotYetValid))),
        ),
        (
            "exp string",
            idp.token().claim("exp", json!("soon")).sign(),
            Some((Check::TimeClaims, invalid(InvalidToken::TimeClaim))),
        ),
        ("audience", idp.token().audience("other").sign(), Some((Check::Audience, invalid(InvalidToken::Audience)))),
        (
            "cnf",
            idp.token().claim("cnf", json!({"nope": 1})).sign(),
            Some((Check::Confirmation, invalid(InvalidToken::Binding))),
        ),
        ("HS256 from a remote set", hs, Some((Check::LocalSecret, invalid(InvalidToken::Algorithm)))),
        ("forged", forged, Some((Check::Signature, invalid(InvalidToken::Signature)))),
        (
            "scope type",
            idp.token().claim("scope", json!(5)).sign(),
            Some((Check::ClaimTypes, invalid(InvalidToken::ClaimType))),
        ),
        ("bound", idp.token().dpop_bound(&dpop).sign(), Some((Check::Binding, invalid(InvalidToken::Binding)))),
        (
            "unknown kid",
            idp.token().kid("key-1-rs256").header("kid", json!("gone")).sign(),
            Some((Check::KeysRefetch, invalid(InvalidToken::UnknownKey))),
        ),
    ];
    for (name, token, expected) in cases {
        assert_eq!(agree(&verifier, &token).await, expected, "{name}");
    }
    // The set is loaded once, by the first token that got that far: later ones find it at hand.
    let steps = verifier.explain(&good).await.steps;
    assert!(steps.iter().any(|s| s.check == Check::Keys && s.outcome.is_ok()), "{steps:?}");
}

#[tokio::test]
async fn explain_reports_keys_that_cannot_be_loaded() {
    let idp = TestIssuer::start().await;
    idp.set_outage(Outage::Status(503));
    let verifier = idp.verifier_builder().no_token_cache().build().unwrap();
    let (check, error) = agree(&verifier, &idp.token().sign()).await.unwrap();
    assert_eq!(check, Check::Keys);
    assert!(matches!(error, AuthError::Unavailable(_)), "{error:?}");
}

#[tokio::test]
async fn explain_follows_the_configuration() {
    let idp = TestIssuer::start().await;
    let strict = idp
        .verifier_builder()
        .no_token_cache()
        .require_access_token_typ()
        .max_age(Duration::from_secs(60))
        .leeway(Duration::ZERO)
        .build()
        .unwrap();
    let jwt = idp.token().header("typ", json!("JWT")).sign();
    assert_eq!(agree(&strict, &jwt).await, Some((Check::Type, InvalidToken::Type.into())));
    let old = idp.token().issued_at(now() - 120).sign();
    assert_eq!(agree(&strict, &old).await, Some((Check::MaxAge, InvalidToken::IssuedAt.into())));
    assert_eq!(agree(&strict, &idp.token().sign()).await, None);

    // With the token cache on, a cached token is answered by the cache, as in the layer.
    let cached = idp.verifier();
    let token = idp.token().sign();
    assert_eq!(agree(&cached, &token).await, None);
    let steps = cached.explain(&token).await.steps;
    let checks: Vec<Check> = steps.iter().map(|s| s.check).collect();
    assert_eq!(checks, [Check::Syntax, Check::Cache, Check::Binding], "{steps:?}");
}
