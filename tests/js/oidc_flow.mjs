// openid-client (Node) against a live authsvc: discovery, PKCE S256, state, nonce, iss
// (RFC 9207), strict id_token validation, userinfo and refresh. Driven by
// tests/test_oauth_e2e.py: prints the authorization URL as one JSON line, reads the
// callback URL the browser landed on from stdin, prints the results as one JSON line.
import * as client from "openid-client";
import { createInterface } from "node:readline";

const [issuer, clientId, clientSecret, redirectUri] = process.argv.slice(2);
const lines = createInterface({ input: process.stdin });
const nextLine = () => new Promise((resolve) => lines.once("line", resolve));

const config = await client.discovery(new URL(issuer), clientId, undefined, client.ClientSecretBasic(clientSecret), {
  execute: [client.allowInsecureRequests], // the test server is http on loopback
});
const verifier = client.randomPKCECodeVerifier();
const state = client.randomState();
const nonce = client.randomNonce();
const url = client.buildAuthorizationUrl(config, {
  redirect_uri: redirectUri, scope: "openid email read", state, nonce,
  code_challenge: await client.calculatePKCECodeChallenge(verifier), code_challenge_method: "S256",
});
console.log(JSON.stringify({ authorization_url: url.href }));

const callback = new URL(await nextLine());
const tokens = await client.authorizationCodeGrant(config, callback, {
  pkceCodeVerifier: verifier, expectedState: state, expectedNonce: nonce, idTokenExpected: true,
});
const claims = tokens.claims();
const info = await client.fetchUserInfo(config, tokens.access_token, claims.sub);
const refreshed = await client.refreshTokenGrant(config, tokens.refresh_token);
console.log(JSON.stringify({
  metadata_issuer: config.serverMetadata().issuer,
  claims, userinfo: info, scope: tokens.scope,
  refreshed: Boolean(refreshed.access_token) && refreshed.refresh_token !== tokens.refresh_token,
}));
lines.close();
