/**
 * Whether a request's `Accept` header asks for a web page before anything else: `text/html` (or
 * `application/xhtml+xml`) is named explicitly, with a quality above zero and no lower than any
 * other type's (RFC 9110 §12.5.1). Browsers send `text/html,…,*\/*;q=0.8`; TiUP's client sends no
 * Accept, curl sends `*\/*`, registry clients name their media types: none of those prefer HTML,
 * so they keep the plain answers.
 *
 * @example
 * ```ts
 * prefersHtml("text/html,application/xhtml+xml,*\/*;q=0.8"); // true
 * prefersHtml("*\/*"); // false
 * ```
 */
export function prefersHtml(accept: string | null | undefined): boolean {
  if (!accept) return false;
  let html = 0;
  let other = 0;
  for (const part of accept.split(",")) {
    const [range = "", ...parameters] = part.split(";");
    const type = range.trim().toLowerCase();
    if (type === "") continue;
    let quality = 1;
    for (const parameter of parameters) {
      const match = /^\s*q\s*=(.*)$/i.exec(parameter);
      // An unreadable quality counts as a refusal, never as the default 1.
      if (match) quality = /^\s*[0-9.]+\s*$/.test(match[1]!) ? Number(match[1]) : 0;
    }
    if (!Number.isFinite(quality)) quality = 0;
    if (type === "text/html" || type === "application/xhtml+xml") html = Math.max(html, quality);
    else other = Math.max(other, quality);
  }
  return html > 0 && html >= other;
}
