/**
 * The fetch a client is given: `globalThis.fetch`, a fetch trusting a private CA, a
 * SigV4-signing fetch (aws4fetch's `AwsClient.fetch`), or a test's in-process server. The
 * policy only ever calls it as `fetch(url, init)`, with the attempt's `signal` in `init`.
 */
export type FetchLike = (input: string, init: RequestInit) => Promise<Response>;
