/**
 * The peer a user choosing a token service compares tkdb with: oidc-provider (panva/node-oidc-provider)
 * answering RFC 7662 token introspection, in its own process, as the benchmark's settings state
 * (PEER_SETTINGS below, copied into docs/PERFORMANCE.md and docs/performance.json):
 *
 * - NODE_ENV=production (set by the bench when it starts this process), Node's plain HTTP server;
 * - the built-in in-memory adapter (no `adapter`), so no database is on its path;
 * - one confidential client with the client_credentials grant, client_secret_basic, scope api:read;
 * - features.clientCredentials and features.introspection on; introspection allowed only to the
 *   token's own client; everything else at its defaults.
 *
 * The bench obtains one opaque access token from /token once, then POSTs /token/introspection.
 * Environment: PEER_CLIENT_ID, PEER_CLIENT_SECRET (random per run, never printed). Prints one JSON
 * line {"url": "..."} once listening on 127.0.0.1; SIGTERM stops it.
 */
import { generateKeyPairSync } from "node:crypto";
import { createServer } from "node:http";
import Provider from "oidc-provider";

export const PEER_SETTINGS = [
  "NODE_ENV=production",
  "built-in in-memory adapter",
  "one confidential client: grant_types [client_credentials], token_endpoint_auth_method client_secret_basic, scope api:read",
  "features.clientCredentials.enabled, features.introspection.enabled (allowedPolicy: the token's own client only)",
  "opaque ClientCredentials access token (no resource indicator), ttl 3600 s, obtained once",
  "introspection POST /token/introspection, form body token=<token>, Authorization: Basic",
  "node:http server, keep-alive, everything else at its defaults",
].join("; ");

const clientId = process.env.PEER_CLIENT_ID;
const clientSecret = process.env.PEER_CLIENT_SECRET;
if (!clientId || !clientSecret || clientSecret.length < 32) {
  console.error("PEER_CLIENT_ID and PEER_CLIENT_SECRET (32+ characters) are required");
  process.exit(2);
}

// A real signing key (the development keystore is refused in production); introspection never
// signs, but the provider will not start a client whose default ID token algorithm has no key.
const { privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
const jwk = { ...privateKey.export({ format: "jwk" }), use: "sig", alg: "RS256" };

const server = createServer();
server.listen(0, "127.0.0.1", () => {
  const { port } = server.address();
  const issuer = `http://127.0.0.1:${port}`;
  const provider = new Provider(issuer, {
    clients: [
      {
        client_id: clientId,
        client_secret: clientSecret,
        grant_types: ["client_credentials"],
        response_types: [],
        redirect_uris: [],
        token_endpoint_auth_method: "client_secret_basic",
        scope: "api:read",
      },
    ],
    scopes: ["api:read"],
    jwks: { keys: [jwk] },
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      introspection: {
        enabled: true,
        allowedPolicy: async (_ctx, client, token) => token.clientId === client.clientId,
      },
    },
    ttl: { ClientCredentials: 3600 },
  });
  // Its own warnings (the in-memory adapter's) go to stderr, which the bench discards.
  server.on("request", provider.callback());
  process.once("SIGTERM", () => server.close(() => process.exit(0)));
  console.log(JSON.stringify({ url: issuer, peer: "oidc-provider", settings: PEER_SETTINGS }));
});
