// A real, independent authorization server for tower-bearer's interop suite:
// panva's oidc-provider (OpenID Certified), configured for the client credentials
// grant with resource indicators, so access tokens are RFC 9068 JWTs (typ at+jwt).
//
// Environment:
//   PORT          port on 127.0.0.1 (required)
//   KEYS_FILE     JSON file holding the private signing JWKs; created when missing
//   ROTATE=1      put a fresh signing key in front of the keys in KEYS_FILE first
//   LIFETIME_MS   the process exits by itself after this long (default 120000)
//   DPOP_NONCE=1  token requests with a DPoP proof must carry its nonce (RFC 9449 §8)
//   TLS_CERT, TLS_KEY  PEM files: serve HTTPS (issuer https://...), ask for client
//                 certificates, and bind the tokens of `mtls-client` to the certificate
//                 of its token request (RFC 8705 §3, features.mTLS.certificateBoundAccessTokens)
//
// Prints "ready <issuer>" on stdout once it accepts connections.
import { X509Certificate, generateKeyPairSync, randomBytes, randomUUID } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:https';
import Provider from 'oidc-provider';

const port = Number(process.env.PORT);
if (!port) {
  console.error('PORT is required');
  process.exit(2);
}
const tls = process.env.TLS_CERT
  ? { cert: readFileSync(process.env.TLS_CERT), key: readFileSync(process.env.TLS_KEY) }
  : undefined;
const issuer = `${tls ? 'https' : 'http'}://127.0.0.1:${port}`;
const keysFile = process.env.KEYS_FILE ?? `/tmp/tower-bearer-interop-keys-${port}.json`;

function freshKey() {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  return { ...privateKey.export({ format: 'jwk' }), kid: `k-${randomUUID()}`, alg: 'RS256', use: 'sig' };
}

let keys = existsSync(keysFile) ? JSON.parse(readFileSync(keysFile, 'utf8')) : [];
if (keys.length === 0 || process.env.ROTATE === '1') keys = [freshKey(), ...keys];
writeFileSync(keysFile, JSON.stringify(keys));

// Extra claims per client, as an IdP maps users and apps to roles.
const claimsFor = {
  'resource-server': { roles: [], name: 'Orders API', oid: '00000000-0000-0000-0000-00000000c003' },
  'admin-client': { roles: ['items.admin'], name: 'Admin Service', oid: '00000000-0000-0000-0000-00000000a001' },
  'reader-client': { roles: [], name: 'Reader Service', oid: '00000000-0000-0000-0000-00000000b002' },
  ...(tls ? { 'mtls-client': { roles: [], name: 'mTLS Service', oid: '00000000-0000-0000-0000-00000000d004' } } : {}),
};

const resources = {
  'https://api.example.com': { ttl: 300 },
  'https://other.example.com': { ttl: 300 },
  'https://short.example.com': { ttl: 2 },
  'https://opaque.example.com': { ttl: 300, format: 'opaque' },
  'https://other-opaque.example.com': { ttl: 300, format: 'opaque' },
};

const provider = new Provider(issuer, {
  clients: Object.keys(claimsFor).map((client_id) => ({
    client_id,
    client_secret: `${client_id}-secret`,
    grant_types: ['client_credentials'],
    redirect_uris: [],
    response_types: [],
    token_endpoint_auth_method: 'client_secret_basic',
    ...(client_id === 'mtls-client' ? { tls_client_certificate_bound_access_tokens: true } : {}),
  })),
  jwks: { keys },
  scopes: ['read:items', 'write:items'],
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    introspection: { enabled: true },
    mTLS: {
      enabled: !!tls,
      certificateBoundAccessTokens: !!tls,
      // The client certificate of the connection; the client authenticates with its
      // secret, so the certificate is not verified here: the resource server does that.
      getCertificate: (ctx) => {
        const peer = ctx.socket.getPeerCertificate?.();
        return peer?.raw ? new X509Certificate(peer.raw) : undefined;
      },
    },
    revocation: { enabled: true },
    // RFC 9449: a token request with a proof gets a JWT with cnf.jkt and token_type DPoP.
    // Proofs in ES256 are accepted: the default enabledJWA.dPoPSigningAlgValues is
    // ES256, Ed25519, EdDSA.
    dPoP: {
      enabled: true,
      nonceSecret: randomBytes(32),
      requireNonce: () => process.env.DPOP_NONCE === '1',
    },
    resourceIndicators: {
      enabled: true,
      defaultResource: () => 'https://api.example.com',
      useGrantedResource: () => true,
      getResourceServerInfo: (ctx, resourceIndicator) => {
        const resource = resources[resourceIndicator];
        if (!resource) throw new Error(`unknown resource ${resourceIndicator}`);
        return {
          scope: 'read:items write:items',
          audience: resourceIndicator,
          accessTokenTTL: resource.ttl,
          accessTokenFormat: resource.format ?? 'jwt',
          jwt: { sign: { alg: 'RS256' } },
        };
      },
    },
  },
  extraTokenClaims: (ctx, token) => claimsFor[token.clientId] ?? {},
});

const ready = () => console.log(`ready ${issuer}`);
const server = tls
  ? createServer({ ...tls, requestCert: true, rejectUnauthorized: false }, provider.callback()).listen(port, '127.0.0.1', ready)
  : provider.listen(port, '127.0.0.1', ready);

// Bounded lifetime: never outlive a test run, even if the test process dies.
setTimeout(() => {
  server.close();
  process.exit(0);
}, Number(process.env.LIFETIME_MS ?? 120000)).unref();
process.on('SIGTERM', () => process.exit(0));
