import assert from "node:assert/strict";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import * as nodePath from "node:path";
import { test } from "node:test";
import { UsageError } from "../../lib/errors.ts";
import { loadS3Config } from "../../lib/storage/s3_config.ts";

async function withHome(files: Record<string, string>, body: (home: string) => Promise<void>) {
  const home = await mkdtemp(nodePath.join(tmpdir(), "ferry-s3config-"));
  try {
    await writeFile(nodePath.join(home, "ca.pem"), "-----BEGIN CERTIFICATE-----\n");
    for (const [name, text] of Object.entries(files)) {
      await mkdir(nodePath.dirname(nodePath.join(home, name)), { recursive: true });
      await writeFile(nodePath.join(home, name), text);
    }
    await body(home);
  } finally {
    await rm(home, { recursive: true, force: true });
  }
}

const CREDENTIALS = `[default]
aws_access_key_id = DEFAULTKEY
aws_secret_access_key = defaultsecret

[ci]
aws_access_key_id=CIKEY
aws_secret_access_key=cisecret
aws_session_token = citoken
`;
const CONFIG = `[default]
region = eu-west-1
[profile ci]
region = ap-south-1
endpoint_url = http://ceph.lan:7480/
`;

test("loadS3Config() takes keys, region and endpoint from the environment first", async () => {
  await withHome({ ".aws/credentials": CREDENTIALS, ".aws/config": CONFIG }, async (home) => {
    const config = await loadS3Config({
      HOME: home,
      AWS_ACCESS_KEY_ID: "ENVKEY",
      AWS_SECRET_ACCESS_KEY: "envsecret",
      AWS_SESSION_TOKEN: "envtoken",
      AWS_REGION: "us-west-2",
      AWS_ENDPOINT_URL: "http://127.0.0.1:7480",
      AWS_ENDPOINT_URL_S3: "https://s3.lan:443/",
      AWS_CA_BUNDLE: nodePath.join(home, "ca.pem"),
    });
    assert.deepEqual(config, {
      endpoint: "https://s3.lan",
      region: "us-west-2",
      accessKeyId: "ENVKEY",
      secretAccessKey: "envsecret",
      sessionToken: "envtoken",
      pathStyle: true,
      caBundle: "-----BEGIN CERTIFICATE-----\n",
    });
  });
});

test("loadS3Config() reads the AWS_PROFILE's credentials and config files", async () => {
  await withHome({ ".aws/credentials": CREDENTIALS, ".aws/config": CONFIG }, async (home) => {
    assert.deepEqual(await loadS3Config({ HOME: home, AWS_PROFILE: "ci" }), {
      endpoint: "http://ceph.lan:7480",
      region: "ap-south-1",
      accessKeyId: "CIKEY",
      secretAccessKey: "cisecret",
      sessionToken: "citoken",
      pathStyle: true,
    });
    // The default profile, on AWS itself: virtual-hosted addressing.
    assert.deepEqual(await loadS3Config({ HOME: home }), {
      endpoint: "https://s3.eu-west-1.amazonaws.com",
      region: "eu-west-1",
      accessKeyId: "DEFAULTKEY",
      secretAccessKey: "defaultsecret",
      pathStyle: false,
    });
  });
});

test("loadS3Config() without keys, or with a bad endpoint or CA file, is a UsageError", async () => {
  await withHome({}, async (home) => {
    const keys = { HOME: home, AWS_ACCESS_KEY_ID: "K", AWS_SECRET_ACCESS_KEY: "S" };
    await assert.rejects(
      loadS3Config({ HOME: home }),
      (e) => e instanceof UsageError && /AWS_ACCESS_KEY_ID/.test(e.message),
    );
    await assert.rejects(
      loadS3Config({ HOME: home, AWS_PROFILE: "nope", AWS_ACCESS_KEY_ID: "K" }),
      /profile "nope"/,
    );
    await assert.rejects(loadS3Config({ ...keys, AWS_ENDPOINT_URL: "ftp://x" }), UsageError);
    await assert.rejects(loadS3Config({ ...keys, AWS_ENDPOINT_URL: "not a url" }), UsageError);
    await assert.rejects(
      loadS3Config({ ...keys, AWS_CA_BUNDLE: "/nonexistent/ca.pem" }),
      /AWS_CA_BUNDLE/,
    );
  });
});
