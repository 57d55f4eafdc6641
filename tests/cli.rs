//! The `tower-bearer` command (feature `cli`) run as a real process against a real
//! `TestIssuer` (discovery and JWKS on 127.0.0.1): keys it generates sign tokens the
//! crate accepts, `jwks` reports each key and the cache headers, `inspect` reports
//! every check and exits 0 only for a token the layer accepts.

use std::process::Output;
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};
use tokio::io::AsyncWriteExt as _;
use tokio::process::Command;
use tower_bearer::keys::StaticKeys;
use tower_bearer::testing::{TEST_AUDIENCE, TestIssuer};
use tower_bearer::token::BearerToken;
use tower_bearer::{Issuer, JwtVerifier, Verifier as _};

const BIN: &str = env!("CARGO_BIN_EXE_tower-bearer");

async fn run(args: &[&str]) -> Output {
    Command::new(BIN).args(args).output().await.expect("run tower-bearer")
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs()
}

/// `inspect TOKEN --issuer <idp> --audience test-api`, keys by discovery.
async fn inspect(idp: &TestIssuer, token: &str) -> Output {
    run(&["inspect", token, "--issuer", idp.issuer(), "--audience", TEST_AUDIENCE]).await
}

/// The `[pass]`/`[FAIL]` lines of an `inspect` run.
fn checks(out: &Output) -> Vec<String> {
    stdout(out)
        .lines()
        .map(str::trim)
        .filter(|l| ["[pass]", "[retry]", "[FAIL]"].iter().any(|p| l.starts_with(p)))
        .map(str::to_owned)
        .collect()
}

#[track_caller]
fn assert_refused_at(out: &Output, failed: &str, reason: &str) {
    let text = stdout(out);
    assert_eq!(out.status.code(), Some(1), "{text}{}", stderr(out));
    let lines = checks(out);
    let last = lines.last().expect("some checks ran");
    assert!(last.starts_with(&format!("[FAIL] {failed}")), "the last check is {last:?}, not {failed:?}:\n{text}");
    assert!(last.contains(reason), "{last:?} does not say {reason:?}");
    assert_eq!(lines.iter().filter(|l| l.starts_with("[FAIL]")).count(), 1, "{text}");
    assert_eq!(lines.last(), Some(last), "nothing runs after the failure:\n{text}");
    assert!(text.contains(&format!("verdict: REFUSED: 401 invalid_token: {reason}")), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inspect_passes_every_check_of_a_good_token() {
    let idp = TestIssuer::start().await;
    let token = idp.token().scope("read").sign();
    let out = inspect(&idp, &token).await;
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{text}{}", stderr(&out));
    let lines = checks(&out);
    assert!(lines.iter().all(|l| l.starts_with("[pass]")), "{text}");
    for check in [
        "credential syntax",
        "compact JWS",
        "alg is a known",
        "typ",
        "iss is a configured issuer",
        "exp (",
        "nbf",
        "iat",
        "aud",
        "issuer's key set",
        "kid found, alg bound",
        "signature",
        "not sender-constrained",
    ] {
        assert!(lines.iter().any(|l| l.contains(check)), "no {check:?} check:\n{text}");
    }
    assert!(text.contains("verdict: ACCEPTED"), "{text}");
    // Header and claims are shown; the signature and the token are not.
    assert!(text.contains(r#""sub": "test-user""#), "{text}");
    let signature = token.rsplit('.').next().unwrap();
    assert!(!text.contains(signature) && !stderr(&out).contains(signature), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inspect_reads_the_token_from_stdin() {
    let idp = TestIssuer::start().await;
    let token = idp.token().sign();
    let mut child = Command::new(BIN)
        .args(["inspect", "-", "--issuer", idp.issuer(), "--audience", TEST_AUDIENCE])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(format!("Bearer {token}\n").as_bytes()).await.unwrap();
    drop(stdin);
    let out = child.wait_with_output().await.unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inspect_names_the_expired_exp() {
    let idp = TestIssuer::start().await;
    let token = idp.token().issued_at(now() - 3600).sign();
    let out = inspect(&idp, &token).await;
    assert_refused_at(&out, "exp (present, not passed)", "the access token expired");
    assert!(stdout(&out).contains("55m ago"), "{}", stdout(&out));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inspect_names_the_wrong_audience() {
    let idp = TestIssuer::start().await;
    let token = idp.token().audience("another-api").sign();
    let out = inspect(&idp, &token).await;
    assert_refused_at(&out, "aud names an accepted audience", "the access token is not meant for this resource");
    assert!(stdout(&out).contains(r#"aud "another-api", accepted ["test-api"]"#), "{}", stdout(&out));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inspect_names_a_bad_signature() {
    let idp = TestIssuer::start().await;
    let (good, other) = (idp.token().sign(), idp.token().subject("mallory").sign());
    let (signed, _) = good.rsplit_once('.').unwrap();
    let forged = format!("{signed}.{}", other.rsplit_once('.').unwrap().1);
    let out = inspect(&idp, &forged).await;
    assert_refused_at(&out, "signature", "the token's signature is invalid");
    let text = stdout(&out);
    assert!(text.contains("[pass] kid found, alg bound to the key"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inspect_names_an_unknown_kid_and_a_wrong_issuer() {
    let idp = TestIssuer::start().await;
    let kid = idp.rotate();
    let token = idp.token().kid(&kid).sign();
    idp.unpublish(&kid);
    let out = inspect(&idp, &token).await;
    // Not in the set loaded just now: looked up again, inside the refetch cooldown.
    assert!(
        stdout(&out).contains("[retry] kid found, alg bound to the key: invalid_token: no key matches the token"),
        "{}",
        stdout(&out)
    );
    assert_refused_at(&out, "key set looked up again for the unknown kid", "no key matches the token");

    let token = idp.token().issuer(format!("{}/", idp.issuer())).sign();
    let out = inspect(&idp, &token).await;
    assert_refused_at(&out, "iss is a configured issuer", "the access token's issuer is not trusted");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inspect_refuses_a_sender_constrained_token_last() {
    let idp = TestIssuer::start().await;
    let key = tower_bearer::signing::DpopKey::generate(tower_bearer::Algorithm::ES256).unwrap();
    let out = inspect(&idp, &idp.token().dpop_bound(&key).sign()).await;
    assert_refused_at(
        &out,
        "not sender-constrained (cnf)",
        "the access token is bound to a key (cnf) this resource cannot check",
    );
    assert!(stdout(&out).contains("[pass] signature"), "{}", stdout(&out));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inspect_reports_unreachable_keys_as_unavailable() {
    let idp = TestIssuer::start().await;
    let token = idp.token().sign();
    idp.set_outage(tower_bearer::testing::Outage::Status(500));
    let out = inspect(&idp, &token).await;
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(checks(&out).last().unwrap().starts_with("[FAIL] issuer's key set: no usable keys: GET"), "{text}");
    assert!(text.contains("verdict: REFUSED: 503"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inspect_keeps_the_https_rule() {
    let out = run(&["inspect", "a.b.c", "--issuer", "http://idp.example.com", "--audience", "api"]).await;
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("refusing plain http://"), "{}", stderr(&out));
    let out = run(&["jwks", "http://idp.example.com/jwks"]).await;
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("refusing plain http://"), "{}", stderr(&out));
}

/// keygen's halves: the private JWK mints (through `mint`) tokens that the crate verifies
/// with the public set, offline and served by an issuer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keygen_keys_mint_tokens_that_verify() {
    let idp = TestIssuer::start().await;
    let dir = std::env::temp_dir().join(format!("tower-bearer-cli-{}-{}", std::process::id(), now()));
    std::fs::create_dir_all(&dir).unwrap();
    for alg in ["RS256", "ES256", "ES384", "EdDSA", "PS256"] {
        let private = dir.join(format!("{alg}.jwk"));
        let public = dir.join(format!("{alg}.jwks"));
        let kid = format!("cli-{alg}");
        let out = run(&[
            "keygen",
            "--alg",
            alg,
            "--kid",
            &kid,
            "--private-out",
            private.to_str().unwrap(),
            "--public-out",
            public.to_str().unwrap(),
        ])
        .await;
        assert!(out.status.success(), "{}", stderr(&out));
        let jwks: Value = serde_json::from_str(&std::fs::read_to_string(&public).unwrap()).unwrap();
        let published = jwks["keys"][0].clone();
        assert_eq!(published["kid"], json!(kid));
        assert!(published.get("d").is_none(), "{published}");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            assert_eq!(std::fs::metadata(&private).unwrap().permissions().mode() & 0o777, 0o600);
        }
        idp.publish_raw_jwk(published);

        let minted = run(&[
            "mint",
            "--key",
            private.to_str().unwrap(),
            "--issuer",
            idp.issuer(),
            "--audience",
            TEST_AUDIENCE,
            "--audience",
            "other",
            "--subject",
            "alice",
            "--scope",
            "read",
            "--scope",
            "write",
            "--claim",
            r#"roles=["admin"]"#,
            "--claim",
            "tid=contoso",
            "--ttl",
            "10m",
        ])
        .await;
        assert!(minted.status.success(), "{}", stderr(&minted));
        let token = stdout(&minted).trim().to_owned();

        let offline = JwtVerifier::builder()
            .issuer(Issuer::new(idp.issuer()).keys(StaticKeys::from_jwks_file(&public).unwrap()))
            .audience(TEST_AUDIENCE)
            .require_access_token_typ()
            .build()
            .unwrap();
        let verified = offline.verify(&BearerToken::new(token.as_str())).resolve().await.unwrap();
        assert_eq!(verified.subject(), Some("alice"));
        assert!(verified.scopes().contains("write"));
        assert_eq!(verified.claim("tid"), Some(&json!("contoso")));
        assert_eq!(verified.claim("aud"), Some(&json!([TEST_AUDIENCE, "other"])));
        assert_eq!(verified.header()["kid"], json!(kid));
        let exp = verified.expires_at();
        assert!((now() + 590..=now() + 600).contains(&exp), "{exp}");

        let out = inspect(&idp, &token).await;
        assert_eq!(out.status.code(), Some(0), "{alg}: {}", stdout(&out));
    }
    // keys are never overwritten
    let again = run(&["keygen", "--private-out", dir.join("ES256.jwk").to_str().unwrap()]).await;
    assert_eq!(again.status.code(), Some(2), "{}", stderr(&again));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keygen_prints_both_halves_with_a_thumbprint_kid() {
    let out = run(&["keygen", "--alg", "EdDSA"]).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    let private = &doc["private_jwk"];
    let public = &doc["public_jwks"]["keys"][0];
    assert_eq!(private["kty"], "OKP");
    assert!(private["d"].is_string() && public.get("d").is_none());
    let jwk = tower_bearer::signing::PrivateJwk::from_json(&private.to_string()).unwrap();
    assert_eq!(private["kid"], json!(jwk.thumbprint().unwrap()));
    assert_eq!(public["kid"], private["kid"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mint_writes_the_typ_asked_for() {
    let idp = TestIssuer::start().await;
    let dir = std::env::temp_dir().join(format!("tower-bearer-mint-{}-{}", std::process::id(), now()));
    std::fs::create_dir_all(&dir).unwrap();
    let key = dir.join("key.json");
    // keygen's whole output is accepted as --key.
    let generated = run(&["keygen", "--alg", "ES256", "--kid", "k"]).await;
    std::fs::write(&key, &generated.stdout).unwrap();
    let minted = run(&[
        "mint",
        "--key",
        key.to_str().unwrap(),
        "--issuer",
        idp.issuer(),
        "--audience",
        TEST_AUDIENCE,
        "--typ",
        "JWT",
    ])
    .await;
    assert!(minted.status.success(), "{}", stderr(&minted));
    let token = stdout(&minted).trim().to_owned();
    let out = run(&[
        "inspect",
        &token,
        "--issuer",
        idp.issuer(),
        "--audience",
        TEST_AUDIENCE,
        "--typ",
        "at+jwt",
        "--jwks-file",
        key.to_str().unwrap(),
    ])
    .await;
    // The whole keygen output is no JWK set; the private JWK is.
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let doc: Value = serde_json::from_slice(&generated.stdout).unwrap();
    std::fs::write(&key, doc["public_jwks"].to_string()).unwrap();
    let out = run(&[
        "inspect",
        &token,
        "--issuer",
        idp.issuer(),
        "--audience",
        TEST_AUDIENCE,
        "--typ",
        "at+jwt",
        "--jwks-file",
        key.to_str().unwrap(),
    ])
    .await;
    assert_refused_at(
        &out,
        "typ is an accepted access-token type",
        "the token's typ is not an accepted access-token type",
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jwks_lists_usable_and_skipped_keys_and_the_cache_headers() {
    let idp = TestIssuer::start().await;
    idp.set_cache_control(Some("public, max-age=120"));
    idp.publish_raw_jwk(json!({"kty": "oct", "k": "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3JldA", "kid": "shared"}));
    let mut wrong_alg = idp.public_jwk(&idp.current_kid()).unwrap();
    wrong_alg["kid"] = json!("rsa-as-es256");
    wrong_alg["alg"] = json!("ES256");
    idp.publish_raw_jwk(wrong_alg);
    idp.publish_raw_jwk(json!({"kty": "EC", "crv": "P-521", "x": "AA", "y": "AA", "kid": "p521"}));

    let out = run(&["jwks", idp.issuer()]).await;
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{text}{}", stderr(&out));
    assert!(
        text.contains(&format!("JWKS {} (jwks_uri from the discovery document of {})", idp.jwks_url(), idp.issuer())),
        "{text}"
    );
    assert!(text.contains("Cache-Control: public, max-age=120"), "{text}");
    assert!(text.contains("ETag: \""), "{text}");
    assert!(text.contains("cache TTL: 2m (Cache-Control max-age 2m"), "{text}");
    assert!(text.contains("keys: 1 usable, 3 skipped"), "{text}");
    assert!(text.contains(&format!("usable   #0 kid {:?} RSA: verifies RS256", idp.current_kid())), "{text}");
    assert!(
        text.contains(r#"skipped  #1 kid "shared" oct: symmetric keys are never accepted from a remote key set"#),
        "{text}"
    );
    assert!(text.contains(r#"skipped  #2 kid "rsa-as-es256" RSA: "alg" ES256 does not fit "kty" "RSA""#), "{text}");
    assert!(text.contains(r#"skipped  #3 kid "p521" EC: unsupported curve "P-521""#), "{text}");

    // A JWKS URL works too (discovery fails first and is noted); the TTL floor applies.
    idp.set_cache_control(Some("max-age=5"));
    let out = run(&["jwks", &idp.jwks_url()]).await;
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{text}{}", stderr(&out));
    assert!(text.starts_with("note: as an issuer (discovery): discovery failed"), "{text}");
    assert!(text.contains(&format!("\nJWKS {}\n", idp.jwks_url())), "{text}");
    assert!(text.contains("cache TTL: 1m (Cache-Control max-age 5s"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jwks_without_a_usable_key_exits_1() {
    let idp = TestIssuer::start().await;
    idp.unpublish(&idp.current_kid());
    idp.publish_raw_jwk(json!({"kty": "RSA", "n": "AQAB", "e": "AQAB", "kid": "short"}));
    let out = run(&["jwks", "--no-discovery", &idp.jwks_url()]).await;
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    assert!(stdout(&out).contains("keys: 0 usable, 1 skipped"), "{}", stdout(&out));
    assert!(stderr(&out).contains("no usable key"), "{}", stderr(&out));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_command_has_help_naming_its_arguments() {
    let commands: [(&str, &[&str]); 4] = [
        ("keygen", &["--alg", "--kid", "--private-out", "--public-out", "EdDSA", "Examples:"]),
        (
            "mint",
            &["--key", "--issuer", "--audience", "--subject", "--scope", "--claim", "--ttl", "--typ", "Examples:"],
        ),
        ("jwks", &["ISSUER_OR_URL", "--no-discovery", "--allow-http", "Cache-Control", "Examples:"]),
        (
            "inspect",
            &[
                "TOKEN",
                "--issuer",
                "--audience",
                "--jwks-url",
                "--jwks-file",
                "--leeway",
                "--max-age",
                "--typ",
                "Examples:",
            ],
        ),
    ];
    for (command, mentions) in commands {
        for help in [vec![command, "--help"], vec!["help", command]] {
            let out = run(&help).await;
            assert_eq!(out.status.code(), Some(0), "{help:?}: {}", stderr(&out));
            let text = stdout(&out);
            for word in mentions {
                assert!(text.contains(word), "`{}` does not mention {word}:\n{text}", help.join(" "));
            }
        }
    }
    let out = run(&["--help"]).await;
    assert_eq!(out.status.code(), Some(0));
    for command in ["keygen", "mint", "jwks", "inspect"] {
        assert!(stdout(&out).contains(command), "{}", stdout(&out));
    }
}
