import { HttpStatusError, NotFoundError, StorageError, TooLargeError } from "../errors.ts";
import type { FileStat, ReadOptions, StorageReader, StoredObject } from "../storage/storage.ts";
import type { RegistryClients } from "./registry_client.ts";

/**
 * The blobs of registries as a read-only storage, so that the clone's verifying downloader
 * (bounded concurrency, verification while streaming, progress) brings them into a bundle.
 * A path is `REGISTRY/REPOSITORY@sha256:<hex>`: the repository decides the token scope.
 */
export class RegistryBlobSource implements StorageReader {
  readonly location = "registries";
  readonly #clients: RegistryClients;

  constructor(clients: RegistryClients) {
    this.#clients = clients;
  }

  /** The source path of a blob of `name` ("upstream.test/test/hello"). */
  static pathOf(registry: string, repository: string, digest: string): string {
    return `${registry}/${repository}@${digest}`;
  }

  stat(path: string): Promise<FileStat> {
    return Promise.reject(new StorageError(`Cannot stat "${path}" in a registry`));
  }

  async read(path: string, options: ReadOptions = {}): Promise<StoredObject> {
    const at = path.lastIndexOf("@");
    const slash = path.indexOf("/");
    if (at === -1 || slash === -1 || slash > at) {
      throw new TypeError(`Cannot read "${path}": expected REGISTRY/REPOSITORY@DIGEST`);
    }
    const registry = path.slice(0, slash);
    const repository = path.slice(slash + 1, at);
    const digest = path.slice(at + 1);
    const response = await this.#clients(registry).request({
      method: "GET",
      repository,
      path: `/v2/${repository}/blobs/${digest}`,
    });
    if (response.status === 404) {
      await response.body?.cancel().catch(() => {});
      throw new NotFoundError(path);
    }
    if (!response.ok || !response.body) {
      await response.body?.cancel().catch(() => {});
      throw new HttpStatusError(path, response.status);
    }
    const length = Number(response.headers.get("content-length") ?? NaN);
    if (options.maxBytes !== undefined && length > options.maxBytes) {
      await response.body.cancel().catch(() => {});
      throw new TooLargeError(path, options.maxBytes);
    }
    const size = Number.isFinite(length) ? length : 0;
    return { stat: { path, size, modified: new Date(0) }, body: response.body };
  }

  // deno-lint-ignore require-yield
  async *list(prefix: string): AsyncIterable<FileStat> {
    throw new StorageError(`Cannot list "${prefix}" in a registry`);
  }
}
