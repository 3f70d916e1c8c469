// The rig's token server (Docker registry token authentication, as Distribution's "token" auth
// expects): GET /token with optional Basic credentials, and the OAuth2 password grant (POST)
// that containerd uses. Tokens are RS256 JWTs carrying the signing certificate (x5c), which the
// registry trusts through its rootcertbundle. Anonymous callers may pull anything but private/*;
// the configured user may pull and push everything. One JSON line per token on stdout.
//
//   node token_server.mjs <host:port> <key.pem> <cert.pem> <issuer> <user:password>
import { createPrivateKey, randomUUID, sign, X509Certificate } from "node:crypto";
import { readFileSync } from "node:fs";
import { createServer } from "node:http";
import process from "node:process";

/** One line on stdout: the instance log the tests read. */
const log = (line) => process.stdout.write(`${line}\n`);

const [listen, keyFile, certFile, issuer, userPass = ""] = process.argv.slice(2);
const [host, port] = listen.split(":");
const key = createPrivateKey(readFileSync(keyFile));
const certificate = new X509Certificate(readFileSync(certFile)).raw.toString("base64");
const colon = userPass.indexOf(":");
const [user, password] = [userPass.slice(0, colon), userPass.slice(colon + 1)];
const TTL = 300;

const base64url = (value) => Buffer.from(value).toString("base64url");

function jwt(claims) {
  const head = base64url(JSON.stringify({ typ: "JWT", alg: "RS256", x5c: [certificate] }));
  const body = base64url(JSON.stringify(claims));
  const signature = sign("sha256", Buffer.from(`${head}.${body}`), key).toString("base64url");
  return `${head}.${body}.${signature}`;
}

/** What `account` ("" = anonymous) gets for each requested "type:name:actions" scope. */
function access(account, scopes) {
  const granted = [];
  for (const scope of scopes.flatMap((s) => s.split(" ")).filter(Boolean)) {
    const parts = scope.split(":");
    if (parts.length < 3) continue;
    const actions = parts.at(-1).split(",");
    const name = parts.slice(1, -1).join(":");
    const allowed = account !== ""
      ? actions.filter((a) => ["pull", "push", "delete", "*"].includes(a))
      : name.startsWith("private/")
      ? []
      : actions.filter((a) => a === "pull");
    granted.push({ type: parts[0], name, actions: allowed });
  }
  return granted;
}

function json(response, status, value, headers = {}) {
  const text = JSON.stringify(value);
  response.writeHead(status, {
    "content-type": "application/json",
    "content-length": Buffer.byteLength(text),
    ...headers,
  });
  response.end(text);
}

function issue(response, service, scopes, account) {
  const now = Math.floor(Date.now() / 1000);
  const token = jwt({
    iss: issuer,
    sub: account,
    aud: service,
    iat: now,
    nbf: now - 10,
    exp: now + TTL,
    jti: randomUUID(),
    access: access(account, scopes),
  });
  log(
    JSON.stringify({ t: new Date().toISOString(), account: account || "-", service, scopes }),
  );
  json(response, 200, {
    token,
    access_token: token,
    expires_in: TTL,
    issued_at: new Date(now * 1000).toISOString(),
  });
}

createServer((request, response) => {
  const url = new URL(request.url, "http://rig");
  if (url.pathname !== "/token") return json(response, 404, { errors: [{ code: "NOT_FOUND" }] });
  const service = url.searchParams.get("service") ?? "";
  if (request.method === "GET") {
    const authorization = request.headers.authorization ?? "";
    let account = "";
    if (/^basic /i.test(authorization)) {
      const given = Buffer.from(authorization.slice(6), "base64").toString();
      if (user === "" || given !== `${user}:${password}`) {
        return json(response, 401, {
          errors: [{ code: "UNAUTHORIZED", message: "bad credentials" }],
        }, {
          "www-authenticate": 'Basic realm="ferry-rig-token"',
        });
      }
      account = user;
    }
    return issue(response, service, url.searchParams.getAll("scope"), account);
  }
  if (request.method === "POST") {
    let body = "";
    request.setEncoding("utf8");
    request.on("data", (chunk) => {
      body += chunk;
      if (body.length > 65_536) request.destroy();
    });
    request.on("end", () => {
      const form = new URLSearchParams(body);
      if (form.get("grant_type") !== "password") {
        return json(response, 400, { error: "unsupported_grant_type" });
      }
      if (user === "" || form.get("username") !== user || form.get("password") !== password) {
        return json(response, 401, { error: "invalid_grant" });
      }
      issue(response, form.get("service") ?? service, form.getAll("scope"), user);
    });
    return;
  }
  json(response, 405, { errors: [{ code: "UNSUPPORTED" }] });
}).listen(Number(port), host, () => log(`token server on ${listen}`));
