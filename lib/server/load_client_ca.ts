import { X509Certificate } from "node:crypto";
import { readFile } from "node:fs/promises";
import { UsageError } from "../errors.ts";

/**
 * Reads the CA certificate(s) that client certificates must be signed by (PEM, one or more),
 * checked before anything listens so a wrong file is one clear line. Returns the PEM text.
 */
export async function loadClientCa(path: string): Promise<string> {
  const pem = await readFile(path, "utf8").catch((error) => {
    throw new UsageError(`Cannot read the client CA "${path}": ${error.code ?? error.message}`);
  });
  const blocks = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  if (blocks.length === 0) {
    throw new UsageError(`Cannot use the client CA "${path}": it holds no PEM certificate`);
  }
  for (const block of blocks) {
    try {
      new X509Certificate(block);
    } catch {
      throw new UsageError(`Cannot use the client CA "${path}": a certificate in it is damaged`);
    }
  }
  return pem;
}
