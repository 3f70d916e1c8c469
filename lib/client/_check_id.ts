import { printable, UsageError } from "../errors.ts";

/** Longest component name or version accepted. */
export const MAX_COMPONENT_ID_LENGTH = 128;

/** The shared rule behind checkComponentName and checkComponentVersion (private to lib/client). */
export function checkId(value: string, what: string, pattern: RegExp, extra: string): void {
  const shown = `"${printable(value)}"`;
  if (value === "") throw new UsageError(`The ${what} is empty: give a non-empty ${what}`);
  if (value.length > MAX_COMPONENT_ID_LENGTH) {
    throw new UsageError(
      `Cannot use ${what} ${
        shown.slice(0, 40)
      }…: it is longer than ${MAX_COMPONENT_ID_LENGTH} characters`,
    );
  }
  if (!pattern.test(value) || value.includes("..")) {
    throw new UsageError(
      `Cannot use ${what} ${shown}: use letters, digits and ${extra}, starting with a letter or digit (no "/", whitespace or "..")`,
    );
  }
}
