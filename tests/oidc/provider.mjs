// A real identity provider for the OAuth tests: npm's oidc-provider (OpenID Certified), on a loopback port.
//
// Usage: node provider.mjs CONFIG.json, with OIDC_PROVIDER_MODULE the file URL of oidc-provider's lib/index.js.
// CONFIG: {"port": N, "resource_prefix": "http://127.0.0.1:", "jwks": {"keys": [private JWKs, the first signs]},
//          "clients": [{"client_id", "client_secret", "scope", "ttl" (seconds), "claims" (extra token claims)}]}
// Tokens come from the client credentials grant, as JWTs whose `aud` is the requested resource indicator.
// Prints "ready <issuer>" once it listens.
import { readFileSync } from 'node:fs';

const { default: Provider, errors } = await import(process.env.OIDC_PROVIDER_MODULE);
const config = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const issuer = `http://127.0.0.1:${config.port}`;
const clients = Object.fromEntries(config.clients.map((client) => [client.client_id, client]));
const SCOPES = 'wave:read wave:run';

const provider = new Provider(issuer, {
  clients: config.clients.map((client) => ({
    client_id: client.client_id,
    client_secret: client.client_secret,
    grant_types: ['client_credentials'],
    response_types: [],
    redirect_uris: [],
    scope: client.scope,
    token_endpoint_auth_method: 'client_secret_post',
  })),
  scopes: SCOPES.split(' '),
  jwks: config.jwks,
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    resourceIndicators: {
      enabled: true,
      useGrantedResource: () => true,
      getResourceServerInfo: (ctx, resource, client) => {
        if (!resource.startsWith(config.resource_prefix)) throw new errors.InvalidTarget();
        return {
          scope: SCOPES,
          audience: resource,
          accessTokenFormat: 'jwt',
          accessTokenTTL: clients[client.clientId].ttl ?? 600,
          jwt: { sign: { alg: 'RS256' } },
        };
      },
    },
  },
  extraTokenClaims: (ctx, token) => clients[token.clientId]?.claims ?? undefined,
});

provider.listen(config.port, '127.0.0.1', () => console.log(`ready ${issuer}`));
