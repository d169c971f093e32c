/**
 * Free loopback ports, for starting things that need a port number before they listen (an
 * engine's configuration names its ports; the demo renders it before starting the engine).
 * The port is bound, read and released: another program could take it in between, which is
 * acceptable for tests and the demo, not for production.
 *
 * @module
 */

import { createSocket } from "node:dgram";
import { createServer } from "node:net";

/** A TCP port free on 127.0.0.1 right now. */
export async function freeTcpPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", resolve);
  });
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === "string") throw new Error("no free TCP port");
  return address.port;
}

/** A UDP port free on 127.0.0.1 right now (for a syslog listener the engine sends to). */
export async function freeUdpPort(): Promise<number> {
  const socket = createSocket("udp4");
  await new Promise<void>((resolve, reject) => {
    socket.once("error", reject);
    socket.bind(0, "127.0.0.1", resolve);
  });
  const { port } = socket.address();
  await new Promise<void>((resolve) => socket.close(() => resolve()));
  return port;
}
