import { UsageError } from "../errors.ts";

/**
 * The mirror's index does not list the component (or lists it as yanked). A UsageError (exit
 * code 2); `ferry <name>` turns it into "Unknown command" with a suggestion.
 */
export class UnknownComponentError extends UsageError {
  override name = "UnknownComponentError";
  constructor(readonly component: string, message: string, options?: ErrorOptions) {
    super(message, options);
  }
}
