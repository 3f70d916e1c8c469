import { UsageError } from "../errors.ts";

/** One `key=value` of a flag value; `value` is undefined for a bare word (`library`). */
export interface KeyValue {
  key: string;
  value: string | undefined;
}

/**
 * Splits a `KEY=VALUE[,k=v][,word]` flag value at its commas, and each part at its first `=`
 * (a value may itself hold `=`, as a URL's query does).
 *
 * @example
 * ```ts
 * parseKeyValueList("my.reg=https://r:5000,ca=ca.pem,library");
 * // [{ key: "my.reg", value: "https://r:5000" }, { key: "ca", value: "ca.pem" },
 * //  { key: "library", value: undefined }]
 * ```
 */
export function parseKeyValueList(text: string): KeyValue[] {
  return text.split(",").map(splitKeyValue);
}

/**
 * Reads a flag value that must be exactly `KEY=VALUE`, both sides non-empty; throws a
 * UsageError that names the flag and the expected form otherwise.
 *
 * @example
 * ```ts
 * parseKeyValue("cr.example=docker.io", "--alias", "HOST=NAME"); // ["cr.example", "docker.io"]
 * ```
 */
export function parseKeyValue(text: string, flag: string, form: string): [string, string] {
  const { key, value } = splitKeyValue(text);
  if (key === "" || value === undefined || value === "") {
    throw new UsageError(`Cannot use ${flag} "${text}": expected ${form}`);
  }
  return [key, value];
}

function splitKeyValue(part: string): KeyValue {
  const at = part.indexOf("=");
  return at < 0 ? { key: part, value: undefined } : {
    key: part.slice(0, at),
    value: part.slice(at + 1),
  };
}
