import { createPrivateKey, X509Certificate } from "node:crypto";
import { readFile } from "node:fs/promises";
import { UsageError } from "../errors.ts";

/** PEM text for an HTTPS listener. */
export interface TlsFiles {
  cert: string;
  key: string;
}

/**
 * Reads and checks a certificate and key before anything listens, so a bad file is one clear
 * line instead of a runtime's TLS stack trace. Returns undefined when neither is given.
 */
export async function loadTls(certPath?: string, keyPath?: string): Promise<TlsFiles | undefined> {
  if (certPath === undefined && keyPath === undefined) return undefined;
  if (certPath === undefined || keyPath === undefined) {
    throw new UsageError("--tls-cert and --tls-key go together: give both or neither");
  }
  const cert = await readFile(certPath, "utf8").catch((error) => {
    throw new UsageError(
      `Cannot read the TLS certificate "${certPath}": ${error.code ?? error.message}`,
    );
  });
  const key = await readFile(keyPath, "utf8").catch((error) => {
    throw new UsageError(`Cannot read the TLS key "${keyPath}": ${error.code ?? error.message}`);
  });
  let certificate: X509Certificate;
  try {
    certificate = new X509Certificate(cert);
  } catch {
    throw new UsageError(
      `Cannot use the TLS certificate "${certPath}": it is not a PEM certificate`,
    );
  }
  let privateKey;
  try {
    privateKey = createPrivateKey(key);
  } catch {
    throw new UsageError(`Cannot use the TLS key "${keyPath}": it is not a PEM private key`);
  }
  if (!certificate.checkPrivateKey(privateKey)) {
    throw new UsageError(
      `Cannot use "${keyPath}" with "${certPath}": the key does not match the certificate`,
    );
  }
  return { cert, key };
}
