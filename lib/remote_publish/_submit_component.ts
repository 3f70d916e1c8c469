/**
 * The retry loop both remote writers share (folder-private): read and verify the mirror over
 * HTTP, plan and sign against that state, submit; when the server answers 409 (another
 * publisher committed first, so the signed version is no longer the next one) start over from a
 * fresh read, as TiUP's `mirror publish` does (10 attempts).
 *
 * @module
 */
import { HashMismatchError, LengthMismatchError, PublishRejectedError } from "../errors.ts";
import type { SigningKey } from "../format/key_info.ts";
import type { RepositoryState } from "../trust/load_verified_state.ts";
import { loadRepositoryState } from "../trust/load_verified_state.ts";
import { HttpStorage } from "../storage/http_storage.ts";
import { PublishApiClient, type PublishApiClientOptions } from "./publish_api_client.ts";

/** Options every remote writer takes. */
export interface RemoteWriteOptions extends PublishApiClientOptions {
  /** The owner's private key (or keys, for an owner with threshold > 1). */
  key: SigningKey | SigningKey[];
  /** Clock, read at each attempt (tests). */
  now?: () => Date;
  /** Attempts when the server answers 409 (default 10, as TiUP). */
  attempts?: number;
  /** Delay before a new attempt; a random part is added so racing publishers spread out. */
  retryDelayMs?: number;
}

/** One attempt: plan and sign on `state`, then talk to the API. Returns what to report. */
export type Attempt<T> = (
  context: { state: RepositoryState; storage: HttpStorage; client: PublishApiClient; now: Date },
) => Promise<T>;

/** Runs `attempt` until it is not refused with 409, at most `attempts` times. */
export async function submitWithRetry<T>(
  url: string,
  options: RemoteWriteOptions,
  attempt: Attempt<T>,
): Promise<T & { attempts: number }> {
  const attempts = options.attempts ?? 10;
  const delay = options.retryDelayMs ?? 500;
  const fetchFn = options.fetch;
  const client = new PublishApiClient(url, {
    ...(fetchFn ? { fetch: fetchFn } : {}),
    ...(options.token !== undefined ? { token: options.token } : {}),
  });
  for (let n = 1;; n++) {
    const now = options.now?.() ?? new Date();
    const storage = new HttpStorage(url, fetchFn ? { fetch: fetchFn } : {});
    const state = await loadConsistentState(storage, now);
    try {
      return { ...(await attempt({ state, storage, client, now })), attempts: n };
    } catch (error) {
      const conflict = error instanceof PublishRejectedError && error.httpStatus === 409;
      if (!conflict || n >= attempts) throw error;
      await new Promise((resolve) => setTimeout(resolve, delay * (0.5 + Math.random())));
    }
  }
}

/**
 * The mirror's verified state. A read that falls between the server's switch of snapshot.json
 * and of timestamp.json (another publisher's commit) sees a snapshot the timestamp does not
 * describe yet: read again, a few times, before calling it a broken mirror.
 */
async function loadConsistentState(storage: HttpStorage, now: Date): Promise<RepositoryState> {
  for (let attempt = 1;; attempt++) {
    try {
      return await loadRepositoryState(storage, { now });
    } catch (error) {
      const torn = error instanceof HashMismatchError || error instanceof LengthMismatchError;
      if (!torn || attempt >= 5) throw error;
      await new Promise((resolve) => setTimeout(resolve, 100 * attempt));
    }
  }
}

/** The keys as a list. */
export function keyList(key: SigningKey | SigningKey[]): SigningKey[] {
  return Array.isArray(key) ? key : [key];
}
