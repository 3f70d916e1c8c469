/**
 * Overviews for the page renderers' tests: one ordinary component and one whose every string
 * is an attack on the page (markup, attribute breakout, a script URL).
 *
 * @module
 */
import type { VersionItem } from "../../../lib/format/manifest_types.ts";
import type {
  ComponentSummary,
  MirrorOverview,
} from "../../../lib/server/pages/load_mirror_overview.ts";

/** Markup that must reach the browser as text. */
export const HOSTILE = `<script>alert("x")</script><img src=x onerror=alert(1)>'"&`;

function item(url: string, overrides: Partial<VersionItem> = {}): VersionItem {
  return {
    dependencies: null,
    entry: "bin",
    hashes: { sha256: "0".repeat(64), sha512: "0".repeat(128) },
    length: 1536,
    released: "2026-01-01T00:00:00Z",
    url,
    yanked: false,
    ...overrides,
  };
}

/** A component summary with `overrides`. */
export function component(overrides: Partial<ComponentSummary> = {}): ComponentSummary {
  const name = overrides.name ?? "hello";
  return {
    name,
    description: "Says hello",
    owner: { id: "alice", name: "Alice" },
    latest: "v1.1.0",
    platforms: ["linux/amd64", "linux/arm64"],
    hidden: false,
    yanked: false,
    standalone: false,
    manifest: {
      _type: "component",
      spec_version: "0.1.0",
      expires: "2031-01-01T00:00:00Z",
      version: 3,
      id: name,
      description: "Says hello",
      nightly: "",
      platforms: {
        "linux/amd64": {
          "v1.0.0": item(`/${name}-v1.0.0-linux-amd64.tar.gz`, { yanked: true }),
          "v1.1.0": item(`/${name}-v1.1.0-linux-amd64.tar.gz`),
        },
        "linux/arm64": { "v1.1.0": item(`/${name}-v1.1.0-linux-arm64.tar.gz`) },
      },
    },
    ...overrides,
  };
}

/** A component whose name, description, owner, version and URL are all hostile. */
export function hostileComponent(): ComponentSummary {
  const base = component();
  return component({
    name: HOSTILE,
    description: HOSTILE,
    owner: { id: HOSTILE, name: HOSTILE },
    latest: HOSTILE,
    platforms: [HOSTILE],
    manifest: {
      ...base.manifest,
      platforms: { [HOSTILE]: { [HOSTILE]: item(`javascript:alert(1)//${HOSTILE}`) } },
    },
  });
}

/** A mirror overview whose roles expire at the given times. */
export function overview(
  components: ComponentSummary[],
  expires: Partial<Record<"root" | "index" | "snapshot" | "timestamp", string>> = {},
): MirrorOverview {
  const far = "2030-01-01T00:00:00Z";
  return {
    rootKeys: { ids: ["a".repeat(64), "b".repeat(64)], threshold: 1 },
    roles: (["root", "index", "snapshot", "timestamp"] as const).map((role, i) => ({
      role,
      version: i + 1,
      expires: expires[role] ?? far,
    })),
    components,
  };
}
