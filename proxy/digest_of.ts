import { createHash } from "node:crypto";

/** The OCI digest ("sha256:<hex>" or "sha512:<hex>") of `bytes`, in the algorithm of `like`. */
export function digestOf(bytes: Uint8Array, like = "sha256:"): string {
  const algorithm = like.startsWith("sha512:") ? "sha512" : "sha256";
  return `${algorithm}:${createHash(algorithm).update(bytes).digest("hex")}`;
}
