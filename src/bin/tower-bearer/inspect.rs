//! `tower-bearer inspect`: every check the layer runs on a token, in order, each passed
//! or failed with the reason. The checks are the library's own
//! ([`JwtVerifier::explain`]); the exit code is the answer of [`Verifier::verify`].

use std::io::Read as _;
use std::path::PathBuf;
use std::time::Duration;

use serde_json::Value;
use tower_bearer::keys::{RemoteJwks, StaticKeys};
use tower_bearer::token::BearerToken;
use tower_bearer::{AuthError, Check, Issuer, JwtVerifier, Step, Verifier as _};

use crate::Failure;
use crate::show::{duration, json, parse_duration, relative, token_parts};

const EXAMPLES: &str = "\
Examples:
  tower-bearer inspect \"$TOKEN\" --issuer https://sso.example.com/realms/main --audience orders-api
  pbpaste | tower-bearer inspect - --issuer https://auth.example.com/ --audience api --typ at+jwt
  tower-bearer inspect \"$TOKEN\" --issuer https://auth.example.com --audience api --jwks-file jwks.json

Prints the token's header and claims (never its signature), then each check:
  [pass] exp (present, not passed): exp 1767225600 (in 4m 59s), leeway 1m
  [FAIL] aud names an accepted audience: the access token is not meant for this resource
and the verdict, with the status the layer would answer. Checks after the first
failure do not run, as in the layer. Exit code 0 only when the layer would accept the
token; 1 when it would refuse it; 2 for a usage error.";

/// Explain, check by check, whether the layer would accept a token.
#[derive(clap::Args)]
#[command(
    long_about = "Runs the verifier the layer uses on a token, configured from the options below \
                  (the builder's defaults otherwise), and prints every check it runs, in order, passed \
                  or failed with the reason: credential syntax, compact JWS, header, alg, crit, kid, typ, \
                  payload, iss, exp, nbf, iat, aud, required claims, cnf, keys (discovery and fetch), kid \
                  lookup and the alg bound to the key, the signature, claim types, and the refusal of \
                  sender-constrained tokens. Keys come from the issuer's discovery document, or \
                  --jwks-url, or --jwks-file (offline).",
    after_long_help = EXAMPLES
)]
pub(crate) struct Args {
    /// The token; `-` reads it from stdin. A leading `Bearer ` is dropped.
    #[arg(value_name = "TOKEN")]
    token: String,
    /// The issuer the service trusts (its exact `iss`); keys by its discovery document
    /// unless --jwks-url or --jwks-file is given.
    #[arg(long)]
    issuer: String,
    /// An accepted audience; repeat for more (any-of).
    #[arg(long = "audience", value_name = "AUD", required = true)]
    audiences: Vec<String>,
    /// Fetch the keys from this JWKS URL instead of discovery.
    #[arg(long, value_name = "URL", conflicts_with = "jwks_file")]
    jwks_url: Option<String>,
    /// Read the keys from this JWK set file (offline; like StaticKeys::from_jwks_file).
    #[arg(long, value_name = "FILE")]
    jwks_file: Option<PathBuf>,
    /// Clock skew tolerated on exp, nbf and iat (builder: leeway).
    #[arg(long, default_value = "60s", value_parser = parse_duration)]
    leeway: Duration,
    /// Refuse tokens issued longer ago (builder: max_age; iat becomes required).
    #[arg(long, value_parser = parse_duration)]
    max_age: Option<Duration>,
    /// Accepted `typ`: `any` (absent, JWT or at+jwt) or `at+jwt` only
    /// (builder: require_access_token_typ).
    #[arg(long, default_value = "any", value_parser = ["any", "at+jwt"])]
    typ: String,
    /// Read the audience from this claim instead of `aud` (Issuer::audience_claim).
    #[arg(long, value_name = "CLAIM")]
    audience_claim: Option<String>,
    /// Require the string claim NAME to equal VALUE (Issuer::require_claim_value).
    #[arg(long = "require-claim", value_name = "NAME=VALUE", value_parser = parse_pair)]
    required: Vec<(String, String)>,
    /// Cap on the encoded JOSE header in bytes (builder: max_header_len).
    #[arg(long, value_name = "BYTES")]
    max_header_len: Option<usize>,
    /// Cap on JSON nesting in header and claims (builder: max_json_depth).
    #[arg(long, value_name = "DEPTH")]
    max_json_depth: Option<usize>,
    /// Allow plain http:// off loopback (RemoteJwksBuilder::dangerous_allow_http).
    #[arg(long)]
    allow_http: bool,
}

fn parse_pair(text: &str) -> Result<(String, String), String> {
    let (name, value) = text.split_once('=').ok_or_else(|| format!("{text:?} is not NAME=VALUE"))?;
    Ok((name.to_owned(), value.to_owned()))
}

pub(crate) async fn run(args: Args) -> Result<(), Failure> {
    let token = read_token(&args.token)?;
    let verifier = verifier(&args)?;
    let (header, claims) = token_parts(&token);
    print_parts(&token, header.as_ref(), claims.as_ref());

    let explained = verifier.explain(&token).await;
    println!("checks:");
    let context = Context { header: header.as_ref(), claims: claims.as_ref(), args: &args };
    for (i, step) in explained.steps.iter().enumerate() {
        print_step(step, i + 1 == explained.steps.len(), &context);
    }
    // The verdict is verify's own answer; explain ran the same code and must agree.
    let syntax_ok = explained.steps.first().is_some_and(|s| s.check == Check::Syntax && s.outcome.is_ok());
    let verdict = if syntax_ok {
        verifier.verify(&BearerToken::new(token.as_str())).resolve().await
    } else {
        explained.verdict.clone()
    };
    if verdict.as_ref().err() != explained.verdict.as_ref().err() {
        return Err(Failure::usage("internal error: explain and verify disagree; please report this"));
    }
    match verdict {
        Ok(verified) => {
            let scopes: Vec<&str> = verified.scopes().iter().collect();
            println!("verdict: ACCEPTED (sub {:?}, scopes [{}])", verified.subject().unwrap_or(""), scopes.join(" "));
            Ok(())
        }
        Err(e) => {
            println!("verdict: REFUSED: {} {}", e.status().as_u16(), reason(&e));
            if matches!(e, AuthError::InvalidToken(tower_bearer::InvalidToken::Binding)) {
                println!(
                    "note: the token is sender-constrained (cnf); a layer configured for DPoP or certificate-bound \
                     tokens accepts it only with the proof of its key"
                );
            }
            Err(Failure::no(""))
        }
    }
}

fn read_token(arg: &str) -> Result<String, Failure> {
    let text = if arg == "-" {
        let mut text = String::new();
        std::io::stdin().read_to_string(&mut text).map_err(|e| Failure::usage(format!("cannot read stdin: {e}")))?;
        text
    } else {
        arg.to_owned()
    };
    let text = text.trim();
    let stripped = text.get(..7).filter(|p| p.eq_ignore_ascii_case("bearer ")).map_or(text, |_| text[7..].trim_start());
    Ok(stripped.to_owned())
}

fn verifier(args: &Args) -> Result<JwtVerifier, Failure> {
    let config = |e: tower_bearer::ConfigError| Failure::usage(e);
    let mut issuer = Issuer::new(&args.issuer);
    issuer = match (&args.jwks_url, &args.jwks_file) {
        (_, Some(file)) => issuer.keys(StaticKeys::from_jwks_file(file).map_err(config)?),
        (Some(url), None) => issuer
            .keys(RemoteJwks::builder().jwks_url(url).dangerous_allow_http(args.allow_http).build().map_err(config)?),
        (None, None) => issuer.keys(
            RemoteJwks::builder()
                .discovery(&args.issuer)
                .dangerous_allow_http(args.allow_http)
                .build()
                .map_err(config)?,
        ),
    };
    if let Some(claim) = &args.audience_claim {
        issuer = issuer.audience_claim(claim);
    }
    for (name, value) in &args.required {
        issuer = issuer.require_claim_value(name, value);
    }
    let mut builder = JwtVerifier::builder().issuer(issuer).leeway(args.leeway).no_token_cache();
    for aud in &args.audiences {
        builder = builder.audience(aud);
    }
    if let Some(age) = args.max_age {
        builder = builder.max_age(age);
    }
    if args.typ == "at+jwt" {
        builder = builder.require_access_token_typ();
    }
    if let Some(len) = args.max_header_len {
        builder = builder.max_header_len(len);
    }
    if let Some(depth) = args.max_json_depth {
        builder = builder.max_json_depth(depth);
    }
    builder.build().map_err(config)
}

fn print_parts(token: &str, header: Option<&Value>, claims: Option<&Value>) {
    let parts = token.split('.').count();
    println!("token: {} bytes, {parts} parts (signature not shown)", token.len());
    match header {
        Some(h) => println!("header: {}", json(h, 2)),
        None => println!("header: (not base64url JSON)"),
    }
    match claims {
        Some(c) => println!("claims: {}", json(c, 2)),
        None => println!("claims: (not base64url JSON)"),
    }
}

struct Context<'a> {
    header: Option<&'a Value>,
    claims: Option<&'a Value>,
    args: &'a Args,
}

impl Context<'_> {
    fn claim(&self, name: &str) -> Option<&Value> {
        self.claims.and_then(|c| c.get(name))
    }

    fn header(&self, name: &str) -> Option<&Value> {
        self.header.and_then(|h| h.get(name))
    }

    fn time(&self, name: &str) -> String {
        match self.claim(name) {
            Some(v) => match v.as_u64() {
                Some(t) => format!("{name} {t} ({})", relative(t)),
                None => format!("{name} {v}"),
            },
            None => format!("no {name}"),
        }
    }

    /// What the check looked at, for the reader (decoded again here, only to show it).
    fn detail(&self, check: Check) -> Option<String> {
        let shown = |v: Option<&Value>| v.map_or_else(|| "absent".to_owned(), Value::to_string);
        let leeway = duration(self.args.leeway);
        Some(match check {
            Check::Algorithm => format!("alg {}", shown(self.header("alg"))),
            Check::KeyId => format!("kid {}", shown(self.header("kid"))),
            Check::Type => format!("typ {} (accepted: {})", shown(self.header("typ")), self.args.typ),
            Check::Issuer => format!("iss {}, configured {:?}", shown(self.claim("iss")), self.args.issuer),
            Check::Expiry => format!("{}, leeway {leeway}", self.time("exp")),
            Check::NotBefore => format!("{}, leeway {leeway}", self.time("nbf")),
            Check::IssuedAt => format!("{}, leeway {leeway}", self.time("iat")),
            Check::MaxAge => {
                format!("{}, max age {}", self.time("iat"), self.args.max_age.map(duration).unwrap_or_default())
            }
            Check::Audience => {
                let claim = self.args.audience_claim.as_deref().unwrap_or("aud");
                format!("{claim} {}, accepted {:?}", shown(self.claim(claim)), self.args.audiences)
            }
            Check::Keys | Check::KeysRefetch => match (&self.args.jwks_file, &self.args.jwks_url) {
                (Some(file), _) => format!("from {}", file.display()),
                (None, Some(url)) => format!("from {url}"),
                (None, None) => format!("by discovery of {}", self.args.issuer),
            },
            Check::KeyLookup => format!("kid {}, alg {}", shown(self.header("kid")), shown(self.header("alg"))),
            Check::Confirmation => format!("cnf {}", shown(self.claim("cnf"))),
            _ => return None,
        })
    }
}

/// One check; a failure that is not the last step was retried (an unknown `kid`
/// looked up again in a refreshed set).
fn print_step(step: &Step, last: bool, context: &Context<'_>) {
    let what = step.check.description();
    let detail = context.detail(step.check).map(|d| format!(" [{d}]")).unwrap_or_default();
    match &step.outcome {
        Ok(()) => println!("  [pass] {what}{detail}"),
        Err(e) if last => println!("  [FAIL] {what}: {}{detail}", reason(e)),
        Err(e) => println!("  [retry] {what}: {}{detail}", reason(e)),
    }
}

/// The precise reason (what `detailed_errors` would send), and for a 503 its cause.
fn reason(e: &AuthError) -> String {
    match e {
        AuthError::Unavailable(u) => format!("no usable keys: {}", u.reason()),
        other => {
            let code = other.error_code().map(|c| format!("{c}: ")).unwrap_or_default();
            format!("{code}{}", other.description(true).unwrap_or("no token"))
        }
    }
}
