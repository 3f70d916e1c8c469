// The rig's "CDN": serves a Distribution storage directory read-only over HTTP (GET and HEAD,
// one byte range), so that the redirecting registry's 307s lead somewhere real. One JSON line
// per request on stdout, which the tests read.
//
//   node blob_server.mjs <host:port> <root-dir>
import { createReadStream, statSync } from "node:fs";
import { createServer } from "node:http";
import { resolve, sep } from "node:path";
import process from "node:process";

/** One line on stdout: the instance log the tests read. */
const log = (line) => process.stdout.write(`${line}\n`);

const [listen, rootDir] = process.argv.slice(2);
const [host, port] = listen.split(":");
const root = resolve(rootDir);

createServer((request, response) => {
  const url = new URL(request.url, "http://rig");
  log(JSON.stringify({
    t: new Date().toISOString(),
    method: request.method,
    path: url.pathname,
    range: request.headers.range ?? null,
  }));
  const empty = (status, headers = {}) => {
    response.writeHead(status, { "content-length": 0, ...headers });
    response.end();
  };
  if (url.pathname === "/healthz") return empty(200);
  if (request.method !== "GET" && request.method !== "HEAD") return empty(405);
  let file;
  try {
    file = resolve(root, `.${decodeURIComponent(url.pathname)}`);
  } catch {
    return empty(400);
  }
  if (!file.startsWith(root + sep)) return empty(403);
  let size;
  try {
    const stat = statSync(file);
    if (!stat.isFile()) return empty(404);
    size = stat.size;
  } catch {
    return empty(404);
  }
  let [start, end, status] = [0, size - 1, 200];
  const headers = { "content-type": "application/octet-stream", "accept-ranges": "bytes" };
  const range = request.headers.range;
  if (range) {
    const match = /^bytes=(\d*)-(\d*)$/.exec(range);
    if (match && match[1] === "" && match[2] !== "") start = Math.max(0, size - Number(match[2]));
    else if (match && match[1] !== "") {
      start = Number(match[1]);
      if (match[2] !== "") end = Math.min(end, Number(match[2]));
    }
    if (!match || (match[1] === "" && match[2] === "") || start > end) {
      return empty(416, { "content-range": `bytes */${size}` });
    }
    status = 206;
    headers["content-range"] = `bytes ${start}-${end}/${size}`;
  }
  headers["content-length"] = end - start + 1;
  response.writeHead(status, headers);
  if (request.method === "HEAD" || size === 0) return response.end();
  createReadStream(file, { start, end }).pipe(response);
}).listen(Number(port), host, () => log(`blob server on ${listen}, root ${root}`));
