/**
 * Finds the exact bytes of the top-level `"signed"` value in a manifest file. TiUP verifies
 * signatures over these raw bytes as stored (TIUP-FORMAT.md §2), not over a re-serialization,
 * so a verifier must cut them out of the file rather than re-encode a parsed object.
 *
 * Throws SyntaxError when the text is not a JSON object with a `signed` member.
 */
export function signedSpan(bytes: Uint8Array): Uint8Array {
  const text = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  const scanner = new Scanner(text);
  scanner.whitespace();
  scanner.expect("{");
  let found: { start: number; end: number } | undefined;
  scanner.whitespace();
  if (scanner.peek() === "}") throw new SyntaxError('Cannot find "signed" in an empty object');
  while (true) {
    scanner.whitespace();
    const key = JSON.parse(scanner.string()) as string;
    scanner.whitespace();
    scanner.expect(":");
    scanner.whitespace();
    const start = scanner.position;
    scanner.value();
    if (key === "signed") {
      if (found) throw new SyntaxError('Cannot trust a manifest with two "signed" members');
      found = { start, end: scanner.position };
    }
    scanner.whitespace();
    if (scanner.peek() === ",") {
      scanner.position++;
      continue;
    }
    scanner.expect("}");
    break;
  }
  scanner.whitespace();
  if (scanner.position !== text.length) throw new SyntaxError("Unexpected data after the manifest");
  if (!found) throw new SyntaxError('Cannot find the "signed" member');
  return new TextEncoder().encode(text.slice(found.start, found.end));
}

const LITERAL = /true|false|null|-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/y;
const WHITESPACE = /[ \t\n\r]*/y;

class Scanner {
  position = 0;
  constructor(readonly text: string) {}

  peek(): string {
    return this.text[this.position] ?? "";
  }

  expect(char: string): void {
    if (this.text[this.position] !== char) {
      throw new SyntaxError(`Expected "${char}" at offset ${this.position}`);
    }
    this.position++;
  }

  whitespace(): void {
    WHITESPACE.lastIndex = this.position;
    WHITESPACE.exec(this.text);
    this.position = WHITESPACE.lastIndex;
  }

  string(): string {
    const start = this.position;
    this.expect('"');
    while (this.position < this.text.length) {
      const char = this.text[this.position++];
      if (char === "\\") this.position++;
      else if (char === '"') return this.text.slice(start, this.position);
    }
    throw new SyntaxError("Unterminated string");
  }

  value(): void {
    const char = this.peek();
    if (char === '"') {
      this.string();
      return;
    }
    if (char === "{" || char === "[") {
      const close = char === "{" ? "}" : "]";
      this.position++;
      this.whitespace();
      if (this.peek() === close) {
        this.position++;
        return;
      }
      while (true) {
        this.whitespace();
        if (char === "{") {
          this.string();
          this.whitespace();
          this.expect(":");
          this.whitespace();
        }
        this.value();
        this.whitespace();
        if (this.peek() === ",") {
          this.position++;
          continue;
        }
        this.expect(close);
        return;
      }
    }
    // Sticky match from the current offset: a literal may be any length (a 300-digit number is
    // valid JSON), so no fixed-size window is cut out of the text.
    LITERAL.lastIndex = this.position;
    const literal = LITERAL.exec(this.text);
    if (!literal) throw new SyntaxError(`Unexpected "${char}" at offset ${this.position}`);
    this.position += literal[0].length;
  }
}
