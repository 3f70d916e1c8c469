import { UsageError } from "../../errors.ts";
import { forEachLimited } from "../../for_each_limited.ts";
import type { FileStat, StorageReader } from "../../storage/storage.ts";
import { htmlResponse } from "./html_page.ts";
import { loadMirrorOverview, type MirrorOverview } from "./load_mirror_overview.ts";
import { prefersHtml } from "./prefers_html.ts";
import { renderComponentPage } from "./render_component_page.ts";
import { renderErrorPage } from "./render_error_page.ts";
import { renderMirrorPage } from "./render_mirror_page.ts";

/** Options for {@linkcode createMirrorPages}. */
export interface MirrorPagesOptions {
  /** The clock the expiry warnings are computed with. */
  now?: () => Date;
  /** Monotonic milliseconds, for how long a verified overview is reused (tests). */
  clock?: () => number;
  /** A verified overview is reused at most this long (ms) while root and timestamp are unchanged. */
  maxAgeMs?: number;
}

/**
 * Answers a page request, or undefined (synchronously, no work done) for every request that is
 * not one: the caller then answers as it always has.
 */
export type MirrorPages = (request: Request, rawPath: string) => Promise<Response> | undefined;

const COMPONENT_PREFIX = "/_ferry/components/";
const PRODUCT = "ferry mirror";

/**
 * The mirror's pages for people: `/` and `/_ferry/components/NAME`, answered only to a GET whose
 * Accept prefers HTML (a browser); TiUP's client, curl and caches get the plain answers. What
 * they show verified from the mirror's own root through lib/repo's loaders; a mirror that does
 * not verify gets an error page, never half-checked data. The verified overview is reused while
 * root.json and timestamp.json are unchanged (every commit rewrites the timestamp), for at most
 * `maxAgeMs`, so a browser reloading does not cost a signature check of every manifest.
 */
export function createMirrorPages(
  storage: StorageReader,
  options: MirrorPagesOptions = {},
): MirrorPages {
  const now = options.now ?? (() => new Date());
  const clock = options.clock ?? (() => performance.now());
  const maxAgeMs = options.maxAgeMs ?? 10_000;
  let kept: { key: string; at: number; overview: Promise<MirrorOverview> } | undefined;

  const overview = async (): Promise<MirrorOverview> => {
    for (let attempt = 1;; attempt++) {
      const key = await versionKey(storage);
      if (kept && kept.key === key && clock() - kept.at < maxAgeMs) return await kept.overview;
      const loading = loadMirrorOverview(storage);
      kept = { key, at: clock(), overview: loading };
      try {
        return await loading;
      } catch (error) {
        if (kept?.overview === loading) kept = undefined;
        // A writer committing while we read (snapshot replaced before its timestamp) fails the
        // check once; the changed timestamp tells that apart from a mirror that is broken.
        if (attempt >= 3 || await versionKey(storage) === key) throw error;
      }
    }
  };

  const answer = async (request: Request, raw: string): Promise<Response> => {
    const baseUrl = originOf(request.url);
    const home = raw === "/" ? "./" : "../../";
    let loaded: MirrorOverview;
    try {
      loaded = await overview();
    } catch (error) {
      return errorPage(error, { baseUrl, home, location: storage.location });
    }
    if (raw === "/") {
      const installer = await storage.stat("install.sh").then(() => true, () => false);
      return htmlResponse(renderMirrorPage(loaded, { baseUrl, now: now(), installer }));
    }
    let name: string;
    try {
      name = decodeURIComponent(raw.slice(COMPONENT_PREFIX.length));
    } catch {
      name = "";
    }
    const component = loaded.components.find((c) => c.name === name);
    if (!component) {
      return htmlResponse(
        renderErrorPage({
          product: PRODUCT,
          where: baseUrl,
          home,
          heading: "No such component",
          message: `This mirror has no component "${name}"`,
          advice: "The list of components is on the mirror's first page.",
        }),
        404,
      );
    }
    const paths = new Set<string>();
    for (const versions of Object.values(component.manifest.platforms ?? {})) {
      for (const item of Object.values(versions)) paths.add(item.url.replace(/^\/+/, ""));
    }
    const present = new Set<string>();
    await forEachLimited([...paths], 16, async (path) => {
      if (await storage.stat(path).then(() => true, () => false)) present.add(path);
    });
    return htmlResponse(
      renderComponentPage(component, { baseUrl, present: (path) => present.has(path) }),
    );
  };

  return (request, raw) => {
    if (request.method !== "GET") return undefined;
    if (
      raw !== "/" && !(raw.startsWith(COMPONENT_PREFIX) && raw.length > COMPONENT_PREFIX.length)
    ) {
      return undefined;
    }
    if (!prefersHtml(request.headers.get("accept"))) return undefined;
    return answer(request, raw);
  };
}

/** What changes when the mirror's trusted state may have: root.json and timestamp.json. */
async function versionKey(storage: StorageReader): Promise<string> {
  const describe = (stat: FileStat | undefined) =>
    stat ? `${stat.size}:${stat.modified.getTime()}:${stat.resolvedPath ?? ""}` : "-";
  const [root, timestamp] = await Promise.all(
    ["root.json", "timestamp.json"].map((path) => storage.stat(path).catch(() => undefined)),
  );
  return `${describe(root)}|${describe(timestamp)}`;
}

function errorPage(
  error: unknown,
  at: { baseUrl: string; home: string; location: string },
): Response {
  // The server's own directory is nobody's business in a browser: paths are shown relative.
  const prefix = `${at.location.replace(/\/+$/, "")}/`;
  const message = String((error as Error)?.message ?? error).replaceAll(prefix, "");
  const notMirror = error instanceof UsageError;
  return htmlResponse(
    renderErrorPage({
      product: PRODUCT,
      where: at.baseUrl,
      home: at.home,
      heading: notMirror ? "Not a TiUP mirror yet" : "This mirror does not verify",
      message,
      advice: notMirror
        ? "Create one with \u201cferry mirror init\u201d or clone one with \u201cferry mirror clone\u201d."
        : "Nothing from it is shown until it verifies. Run \u201cferry mirror verify\u201d on the server for the details.",
    }),
    500,
  );
}

function originOf(url: string): string {
  try {
    return new URL(url).origin;
  } catch {
    return "";
  }
}
