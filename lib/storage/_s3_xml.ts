/**
 * The few S3 XML answers the backend reads (ListObjectsV2, ListMultipartUploads,
 * InitiateMultipartUpload, Error), read by element name. S3's XML has no attributes that
 * matter here, no CDATA and no nesting of an element within one of its own name, so a
 * non-greedy match per element is exact.
 *
 * @module
 */

/** The text of every `<name>…</name>` element in `xml`, entities decoded. */
export function xmlElements(xml: string, name: string): string[] {
  const out: string[] = [];
  const pattern = new RegExp(`<${name}(?:\\s[^>]*)?>([\\s\\S]*?)</${name}>`, "g");
  for (const match of xml.matchAll(pattern)) out.push(decodeEntities(match[1]!));
  return out;
}

/** The text of the first `<name>` element, or undefined. */
export function xmlElement(xml: string, name: string): string | undefined {
  return xmlElements(xml, name)[0];
}

/** The raw inner XML of every `<name>` element (for per-entry fields of a listing). */
export function xmlBlocks(xml: string, name: string): string[] {
  const pattern = new RegExp(`<${name}(?:\\s[^>]*)?>([\\s\\S]*?)</${name}>`, "g");
  return [...xml.matchAll(pattern)].map((match) => match[1]!);
}

/** Escapes text for an XML element body. */
export function xmlEscape(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function decodeEntities(text: string): string {
  return text.replace(/&(#x[0-9a-fA-F]+|#[0-9]+|amp|lt|gt|quot|apos);/g, (_, entity: string) => {
    switch (entity) {
      case "amp":
        return "&";
      case "lt":
        return "<";
      case "gt":
        return ">";
      case "quot":
        return '"';
      case "apos":
        return "'";
    }
    const code = entity.startsWith("#x")
      ? parseInt(entity.slice(2), 16)
      : parseInt(entity.slice(1), 10);
    return String.fromCodePoint(code);
  });
}
