/** One authentication challenge from a `WWW-Authenticate` header. */
export interface AuthChallenge {
  /** Lower-case: "bearer", "basic". */
  scheme: string;
  /** Lower-case parameter names: realm, service, scope, error. */
  params: Record<string, string>;
}

/**
 * Parses a `WWW-Authenticate` header (RFC 9110 §11.6.1) into its challenges, in order. Quoted
 * values may contain commas and escaped quotes, as Docker token realms and scopes do
 * (`scope="repository:a/b:pull,push"`). Returns [] for an empty or unparseable header.
 */
export function parseChallenge(header: string | null | undefined): AuthChallenge[] {
  if (!header) return [];
  const challenges: AuthChallenge[] = [];
  let i = 0;
  const n = header.length;
  const skipSpace = () => {
    while (i < n && (header[i] === " " || header[i] === "\t" || header[i] === ",")) i++;
  };
  while (i < n) {
    skipSpace();
    const schemeMatch = /^[A-Za-z0-9!#$%&'*+.^_`|~-]+/.exec(header.slice(i));
    if (!schemeMatch) break;
    const current: AuthChallenge = { scheme: schemeMatch[0].toLowerCase(), params: {} };
    challenges.push(current);
    i += schemeMatch[0].length;
    // parameters: name=value or name="quoted", separated by commas, until the next scheme
    while (i < n) {
      skipSpace();
      const nameMatch = /^([A-Za-z0-9!#$%&'*+.^_`|~-]+)\s*=\s*/.exec(header.slice(i));
      if (!nameMatch) break;
      i += nameMatch[0].length;
      let value = "";
      if (header[i] === '"') {
        i++;
        while (i < n && header[i] !== '"') {
          if (header[i] === "\\" && i + 1 < n) i++;
          value += header[i];
          i++;
        }
        i++;
      } else {
        const token = /^[^,\s]*/.exec(header.slice(i))?.[0] ?? "";
        value = token;
        i += token.length;
      }
      current.params[(nameMatch[1] ?? "").toLowerCase()] = value;
    }
  }
  return challenges;
}
