import type { FlagSpecs } from "../lib/cli/command.ts";

/**
 * The flags every ferry server command takes (`mirror serve`, `proxy`): where to listen, HTTPS,
 * and the access log. One definition, so both commands spell and document them the same way.
 */
export function serverFlags(defaultListen: string) {
  return {
    listen: {
      type: "string",
      short: "l",
      valueName: "HOST:PORT",
      default: defaultListen,
      description: "Address to listen on (:PORT for all interfaces)",
    },
    "tls-cert": {
      type: "string",
      valueName: "FILE",
      description: "PEM certificate chain: serve HTTPS",
    },
    "tls-key": { type: "string", valueName: "FILE", description: "PEM private key for --tls-cert" },
    "access-log": {
      type: "string",
      valueName: "on|off",
      default: "on",
      description: "Print one line per request on stdout",
    },
  } as const satisfies FlagSpecs;
}
