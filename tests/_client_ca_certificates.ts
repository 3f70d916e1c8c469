/**
 * Certificates for mTLS tests, made with openssl in `dir`: a CA (`ca.pem`), signed by it a server
 * certificate for 127.0.0.1 (`server.pem`/`server.key`) and a client certificate
 * (`client.pem`/`client.key`), and a self-signed rogue client (`rogue.pem`/`rogue.key`).
 * Returns a function naming a file in `dir`.
 *
 * @module
 */
import { execFileSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import * as nodePath from "node:path";

const EC = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];

export function makeClientCaCertificates(dir: string): (name: string) => string {
  const run = (args: string[]) => execFileSync("openssl", args, { cwd: dir, stdio: "ignore" });
  const selfSigned = (name: string) =>
    run([
      "req",
      "-x509",
      ...EC,
      "-keyout",
      `${name}.key`,
      "-out",
      `${name}.pem`,
      "-days",
      "2",
      "-subj",
      `/CN=${name}`,
    ]);
  selfSigned("ca");
  selfSigned("rogue");
  writeFileSync(nodePath.join(dir, "san.ext"), "subjectAltName=IP:127.0.0.1\n");
  // X.509 v3 with its usage, as a real client certificate: rustls (Deno's fetch) refuses v1.
  writeFileSync(nodePath.join(dir, "client.ext"), "extendedKeyUsage=clientAuth\n");
  const signed = [["server", ["-extfile", "san.ext"]], ["client", ["-extfile", "client.ext"]]];
  for (const [name, extra] of signed as Array<[string, string[]]>) {
    run(["req", ...EC, "-keyout", `${name}.key`, "-out", `${name}.csr`, "-subj", `/CN=${name}`]);
    run([
      "x509",
      "-req",
      "-in",
      `${name}.csr`,
      "-CA",
      "ca.pem",
      "-CAkey",
      "ca.key",
      "-CAcreateserial",
      "-out",
      `${name}.pem`,
      "-days",
      "2",
      ...extra,
    ]);
  }
  return (name: string) => nodePath.join(dir, name);
}
