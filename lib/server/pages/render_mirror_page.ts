import { parseRfc3339 } from "../../format/rfc3339.ts";
import { type Html, markup, renderPage } from "./html_page.ts";
import type { ComponentSummary, MirrorOverview, RoleSummary } from "./load_mirror_overview.ts";

/** A manifest expiring sooner than this gets a warning on the page. */
export const EXPIRY_WARNING_DAYS = 14;

/** Options for {@linkcode renderMirrorPage}. */
export interface RenderMirrorPageOptions {
  /** The mirror's address as the browser reached it ("http://10.0.0.5:8080"), no trailing "/". */
  baseUrl: string;
  now: Date;
  /** Whether the mirror serves install.sh (then the page shows the curl line). */
  installer?: boolean;
}

/** How close a manifest is to its expiry at `now`. */
export type ExpiryState = "ok" | "soon" | "expired";

/** "expired" past `expires`, "soon" within {@linkcode EXPIRY_WARNING_DAYS}, else "ok". */
export function expiryState(expires: string, now: Date): ExpiryState {
  const left = parseRfc3339(expires).getTime() - now.getTime();
  if (left <= 0) return "expired";
  if (left < EXPIRY_WARNING_DAYS * 86_400_000) return "soon";
  return "ok";
}

/**
 * The mirror's first page: how to use it, who it is (root key IDs, role versions and expiry,
 * with a warning when any expires within 14 days) and its components. Pure: everything shown
 * comes from `overview`, every string in it is escaped.
 */
export function renderMirrorPage(overview: MirrorOverview, options: RenderMirrorPageOptions) {
  const { baseUrl, now } = options;
  const states = overview.roles.map((role) => ({ role, state: expiryState(role.expires, now) }));
  const expired = states.filter((s) => s.state === "expired").map((s) => s.role.role);
  const soon = states.filter((s) => s.state === "soon").map((s) => s.role.role);
  const body = markup`
<h1>TiUP mirror</h1>
${
    expired.length > 0
      ? markup`<p class="notice bad" role="alert" id="expiry-warning">Expired: ${
        expired.join(", ")
      }. Clients refuse this mirror until it is renewed (<code>ferry mirror renew</code>).</p>`
      : ""
  }
${
    soon.length > 0
      ? markup`<p class="notice warn" role="alert" id="expiry-warning">Expires within ${EXPIRY_WARNING_DAYS} days: ${
        soon.join(", ")
      }. Renew it before clients refuse it (<code>ferry mirror renew</code>).</p>`
      : ""
  }
<h2>Use this mirror</h2>
<code class="command" id="set-ferry">ferry mirror set ${baseUrl}</code>
<code class="command" id="set-tiup">tiup mirror set ${baseUrl}</code>
${
    options.installer
      ? markup`<p class="hint">Install ferry on another machine:</p>
<code class="command" id="install">curl -fsSL ${baseUrl}/install.sh | FERRY_MIRROR=${baseUrl} sh</code>`
      : ""
  }
<p class="hint">One click selects a whole command.</p>
<h2>Components</h2>
${componentTable(overview.components)}
<h2>Mirror identity</h2>
<p>Root keys (${overview.rootKeys.threshold} of ${overview.rootKeys.ids.length} sign a new root):</p>
<ul id="root-keys">${
    overview.rootKeys.ids.map((id) => markup`<li class="mono keyid">${id}</li>`)
  }</ul>
<table id="roles" class="compact">
<thead><tr><th>Manifest</th><th class="num">Version</th><th>Expires</th><th></th></tr></thead>
<tbody>${states.map(({ role, state }) => roleRow(role, state))}</tbody>
</table>
<p class="hint">Compare the root key IDs with the ones your administrator published before trusting a new mirror.</p>
`;
  return renderPage({
    title: `TiUP mirror at ${baseUrl}`,
    product: "ferry mirror",
    where: baseUrl,
    home: "./",
    body,
  });
}

function roleRow(role: RoleSummary, state: ExpiryState): Html {
  const mark = state === "expired"
    ? markup`<span class="badge bad">expired</span>`
    : state === "soon"
    ? markup`<span class="badge warn">expires soon</span>`
    : markup`<span class="ok">valid</span>`;
  return markup`<tr data-role="${role.role}"><td>${role.role}.json</td><td class="num">${role.version}</td><td class="mono">${role.expires}</td><td>${mark}</td></tr>`;
}

function componentTable(components: ComponentSummary[]): Html {
  if (components.length === 0) {
    return markup`<p id="components-empty">No components yet: publish one with <code>ferry mirror publish</code>.</p>`;
  }
  return markup`<div class="scroll"><table id="components">
<thead><tr><th>Name</th><th>Description</th><th>Owner</th><th>Latest</th><th>Platforms</th></tr></thead>
<tbody>${components.map(componentRow)}</tbody>
</table></div>`;
}

function componentRow(component: ComponentSummary): Html {
  return markup`<tr data-component="${component.name}">
<td><a href="${componentPageHref(component.name)}">${component.name}</a>${
    component.hidden ? markup`<span class="badge">hidden</span>` : ""
  }${component.yanked ? markup`<span class="badge bad">yanked</span>` : ""}</td>
<td>${component.description}</td>
<td>${component.owner.name}${
    component.owner.name !== component.owner.id
      ? markup` <span class="hint">(${component.owner.id})</span>`
      : ""
  }</td>
<td class="mono">${component.latest ?? "—"}</td>
<td>${component.platforms.join(", ")}</td>
</tr>`;
}

/** The component page's address relative to the mirror's first page. */
export function componentPageHref(name: string): string {
  return `_ferry/components/${encodeURIComponent(name)}`;
}
