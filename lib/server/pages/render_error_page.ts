import { markup, renderPage } from "./html_page.ts";

/** What {@linkcode renderErrorPage} shows. */
export interface ErrorPage {
  /** "ferry mirror" or "ferry proxy". */
  product: string;
  /** The site's address as the browser reached it. */
  where: string;
  /** Relative link to the site's first page. */
  home: string;
  heading: string;
  /** The error's message, shown as it is (escaped). */
  message: string;
  /** What a person can do about it. */
  advice?: string;
}

/** A page that says why nothing else can be shown (a mirror that does not verify, a 404). */
export function renderErrorPage(page: ErrorPage): string {
  return renderPage({
    title: `${page.heading} · ${page.product}`,
    product: page.product,
    where: page.where,
    home: page.home,
    body: markup`
<h1>${page.heading}</h1>
<p class="notice bad" role="alert" id="error-message">${page.message}</p>
${page.advice ? markup`<p>${page.advice}</p>` : ""}
`,
  });
}
