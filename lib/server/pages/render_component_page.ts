import semver from "semver";
import type { VersionItem } from "../../format/manifest_types.ts";
import { formatBytes, type Html, markup, renderPage } from "./html_page.ts";
import type { ComponentSummary } from "./load_mirror_overview.ts";

/** Options for {@linkcode renderComponentPage}. */
export interface RenderComponentPageOptions {
  /** The mirror's address as the browser reached it, no trailing "/". */
  baseUrl: string;
  /** Whether the mirror holds a tarball, by storage path (a clone may list what it did not copy). */
  present: (path: string) => boolean;
}

/** The page lives at `_ferry/components/NAME`: this leads back to the mirror's root. */
const TO_ROOT = "../../";

/**
 * A component's page: its index flags, description and owner, and a table of versions ×
 * platforms with a download link for every tarball the mirror holds (yanked versions struck
 * through, tarballs a clone did not copy marked). Links are relative, so the page works behind
 * a reverse proxy's path prefix. Pure; every string is escaped.
 */
export function renderComponentPage(
  component: ComponentSummary,
  options: RenderComponentPageOptions,
): string {
  const { manifest } = component;
  const platforms = component.platforms;
  const versions = sortVersions(
    new Set(platforms.flatMap((p) => Object.keys(manifest.platforms[p] ?? {}))),
  );
  const latest = component.latest;
  const body = markup`
<p><a href="${TO_ROOT}">← All components</a></p>
<h1 id="component-name">${component.name}${
    component.hidden ? markup`<span class="badge">hidden</span>` : ""
  }${component.yanked ? markup`<span class="badge bad">yanked</span>` : ""}</h1>
<p id="component-description">${component.description}</p>
<p>Owner: ${component.owner.name} <span class="hint">(${component.owner.id})</span>${
    component.standalone ? markup` · standalone` : ""
  } · manifest version ${manifest.version}, expires <span class="mono">${manifest.expires}</span></p>
${
    latest
      ? markup`<code class="command" id="install-command">ferry install ${component.name}:${latest}</code>
<code class="command">tiup install ${component.name}:${latest}</code>`
      : ""
  }
<h2>Versions</h2>
${
    versions.length === 0
      ? markup`<p>No versions published.</p>`
      : markup`<div class="scroll"><table id="versions">
<thead><tr><th>Version</th><th>Released</th>${
        platforms.map((p) => markup`<th>${p}</th>`)
      }</tr></thead>
<tbody>${versions.map((version) => versionRow(version, component, options))}</tbody>
</table></div>`
  }
`;
  return renderPage({
    title: `${component.name} · TiUP mirror at ${options.baseUrl}`,
    product: "ferry mirror",
    where: options.baseUrl,
    home: TO_ROOT,
    body,
  });
}

function versionRow(
  version: string,
  component: ComponentSummary,
  options: RenderComponentPageOptions,
): Html {
  const items = component.platforms.map((p) => component.manifest.platforms[p]?.[version]);
  const first = items.find((item): item is VersionItem => item !== undefined);
  const yanked = items.every((item) => item === undefined || item.yanked);
  return markup`<tr data-version="${version}">
<td class="mono nowrap${yanked ? " yanked" : ""}">${version}${
    version === component.latest ? markup`<span class="badge">latest</span>` : ""
  }${yanked ? markup`<span class="badge bad">yanked</span>` : ""}</td>
<td class="mono nowrap">${first?.released.slice(0, 10) ?? ""}</td>
${items.map((item, i) => platformCell(item, component.platforms[i]!, options))}
</tr>`;
}

function platformCell(
  item: VersionItem | undefined,
  platform: string,
  options: RenderComponentPageOptions,
): Html {
  if (!item) return markup`<td class="missing">—</td>`;
  const path = item.url.replace(/^\/+/, "");
  if (!options.present(path)) {
    return markup`<td class="missing" data-platform="${platform}">not copied</td>`;
  }
  // Each segment encoded: the URL is signed data, but a "javascript:" or "//host" in it must
  // stay a path on this mirror.
  const href = TO_ROOT + path.split("/").map(encodeURIComponent).join("/");
  return markup`<td data-platform="${platform}"${
    item.yanked ? markup` class="yanked"` : ""
  }><a href="${href}" download>${path.split("/").pop()}</a> <span class="hint">${
    formatBytes(item.length)
  }</span></td>`;
}

/** Semver versions newest first, then any others (nightly builds, odd names) by name. */
function sortVersions(versions: Set<string>): string[] {
  const valid = [...versions].filter((v) => semver.valid(v) !== null).sort(semver.rcompare);
  const other = [...versions].filter((v) => semver.valid(v) === null).sort().reverse();
  return [...valid, ...other];
}
