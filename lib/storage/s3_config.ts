/**
 * Where an S3 bucket is and how to sign for it, taken the way every S3 tool takes it: the
 * `AWS_*` environment variables first, then the shared credentials and config files of the
 * profile (`AWS_PROFILE`, default "default").
 *
 * @module
 */
import { readFile } from "node:fs/promises";
import * as nodePath from "node:path";
import { UsageError } from "../errors.ts";

/** Everything S3Storage needs to reach and sign for a bucket. */
export interface S3Config {
  /** The service endpoint: `https://s3.<region>.amazonaws.com` unless one is given. */
  endpoint: string;
  region: string;
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
  /**
   * Bucket in the path (`endpoint/bucket/key`) rather than in the host name. True for custom
   * endpoints (Ceph, MinIO, R2 on loopback have no wildcard DNS), false for AWS's own.
   */
  pathStyle: boolean;
  /** PEM certificates to trust besides the system's (`AWS_CA_BUNDLE`). */
  caBundle?: string;
}

/** The environment the configuration is read from (a process's, or a test's). */
export type Environment = Record<string, string | undefined>;

/**
 * Reads the configuration for S3 from `env` and the profile's files. Environment variables win
 * over the files; a missing access key or secret is a UsageError that says where to put one.
 *
 * @example
 * const config = await loadS3Config(process.env);
 */
export async function loadS3Config(env: Environment): Promise<S3Config> {
  const profile = env.AWS_PROFILE ?? env.AWS_DEFAULT_PROFILE ?? "default";
  const home = env.HOME ?? env.USERPROFILE ?? "";
  const credentialsFile = env.AWS_SHARED_CREDENTIALS_FILE ??
    nodePath.join(home, ".aws", "credentials");
  const configFile = env.AWS_CONFIG_FILE ?? nodePath.join(home, ".aws", "config");
  const credentials = (await readIni(credentialsFile))[profile] ?? {};
  // In the config file every profile but "default" is written "[profile NAME]".
  const config =
    (await readIni(configFile))[profile === "default" ? "default" : `profile ${profile}`] ??
      {};
  const accessKeyId = env.AWS_ACCESS_KEY_ID ?? credentials.aws_access_key_id;
  const secretAccessKey = env.AWS_SECRET_ACCESS_KEY ?? credentials.aws_secret_access_key;
  if (!accessKeyId || !secretAccessKey) {
    throw new UsageError(
      `Cannot sign S3 requests: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or give the ` +
        `profile "${profile}" keys in "${credentialsFile}"`,
    );
  }
  const region = env.AWS_REGION ?? env.AWS_DEFAULT_REGION ?? config.region ?? "us-east-1";
  const custom = env.AWS_ENDPOINT_URL_S3 ?? env.AWS_ENDPOINT_URL ?? config.endpoint_url;
  const endpoint = custom ? checkEndpoint(custom) : `https://s3.${region}.amazonaws.com`;
  const sessionToken = env.AWS_SESSION_TOKEN ?? credentials.aws_session_token;
  const caFile = env.AWS_CA_BUNDLE ?? config.ca_bundle;
  const result: S3Config = {
    endpoint,
    region,
    accessKeyId,
    secretAccessKey,
    pathStyle: custom !== undefined,
  };
  if (sessionToken) result.sessionToken = sessionToken;
  if (caFile) {
    result.caBundle = await readFile(caFile, "utf8").catch((error) => {
      throw new UsageError(
        `Cannot read the CA bundle "${caFile}" (AWS_CA_BUNDLE): ${error.message}`,
      );
    });
  }
  return result;
}

function checkEndpoint(value: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new UsageError(`Cannot use the S3 endpoint "${value}": it is not a URL`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new UsageError(`Cannot use the S3 endpoint "${value}": use http or https`);
  }
  return url.href.replace(/\/+$/, "");
}

/** The sections of an INI file (`[name]` then `key = value` lines); a missing file is empty. */
async function readIni(file: string): Promise<Record<string, Record<string, string>>> {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch {
    return {};
  }
  const sections: Record<string, Record<string, string>> = {};
  let current: Record<string, string> | undefined;
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#") || line.startsWith(";")) continue;
    const header = /^\[\s*(.+?)\s*\]$/.exec(line);
    if (header) {
      current = sections[header[1]!] ??= {};
      continue;
    }
    const equals = line.indexOf("=");
    if (current && equals > 0) {
      current[line.slice(0, equals).trim().toLowerCase()] = line.slice(equals + 1).trim();
    }
  }
  return sections;
}
