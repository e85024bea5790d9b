// Bounded waiting and free ports for tests: the one place for both.

import { createServer } from "node:net";

/**
 * Ports handed out for servers a test starts later come from below Linux's ephemeral range
 * (32768-60999): a port chosen by listening on 0 is itself ephemeral, so between its release
 * and the server's bind, any outgoing connection or other listen(0) (a fault proxy, a client)
 * could take it.
 */
const TEST_PORT_MIN = 20_000;
const TEST_PORT_SPAN = 12_000;
const TEST_PORT_TRIES = 64;

function listensOn(host: string, port: number): Promise<number | undefined> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once("error", () => resolve(undefined));
    server.listen(port, host, () => {
      const address = server.address();
      const bound = typeof address === "object" && address ? address.port : undefined;
      server.close(() => resolve(bound));
    });
  });
}

/** A port that was free a moment ago on `host`, outside the ephemeral range when one can be found there. */
export async function freePort(host = "127.0.0.1"): Promise<number> {
  for (let tries = 0; tries < TEST_PORT_TRIES; tries++) {
    const candidate = TEST_PORT_MIN + Math.floor(Math.random() * TEST_PORT_SPAN);
    const port = await listensOn(host, candidate);
    if (port !== undefined) return port;
  }
  const port = await listensOn(host, 0);
  if (port === undefined) throw new Error(`cannot find a free port on ${host}`);
  return port;
}

/** Polls `probe` every `intervalMs` until it returns a value (not undefined/false); throws after `timeoutMs`. */
export async function waitUntil<T>(
  probe: () => Promise<T | undefined | false> | T | undefined | false,
  what: string,
  timeoutMs: number,
  intervalMs = 25,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}
