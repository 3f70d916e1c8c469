/**
 * A real HTTP server on a loopback port whose answers a test scripts per path: for hostile
 * behaviour (silence, slow drips, over-long bodies) that a mirror server would never show.
 *
 * @module
 */
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo, Socket } from "node:net";

/** Answers one request; may keep the response open for as long as it likes. */
export type HostileRoute = (request: IncomingMessage, response: ServerResponse) => void;

/** A running hostile server. */
export interface HostileServer {
  url: string;
  /** How many requests each path got. */
  hits: Map<string, number>;
  /** Stops the timers routes started, drops every connection and closes the port. */
  close(): Promise<void>;
  /** Runs `step` every `ms` until the server closes (for drips). */
  every(ms: number, step: () => void): void;
}

/** Starts a server answering `routes[path]`, and 404 for any other path. */
export function startHostileServer(routes: Record<string, HostileRoute>): Promise<HostileServer> {
  const hits = new Map<string, number>();
  const sockets = new Set<Socket>();
  const timers = new Set<ReturnType<typeof setInterval>>();
  const server = createServer((request, response) => {
    const path = (request.url ?? "/").split("?")[0]!;
    hits.set(path, (hits.get(path) ?? 0) + 1);
    const route = routes[path];
    if (route) route(request, response);
    else response.writeHead(404).end();
  });
  server.on("connection", (socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
  });
  return new Promise((resolve) => {
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as AddressInfo;
      resolve({
        url: `http://127.0.0.1:${port}`,
        hits,
        every(ms, step) {
          timers.add(setInterval(step, ms));
        },
        close() {
          for (const timer of timers) clearInterval(timer);
          for (const socket of sockets) socket.destroy();
          return new Promise((done) => server.close(() => done()));
        },
      });
    });
  });
}
