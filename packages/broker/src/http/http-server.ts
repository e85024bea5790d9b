// The node's HTTP endpoint: /metrics (Prometheus text), /healthz (the process is alive and
// its event loop answers), /readyz (logs are open and the client port is serving).

import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import type { Registry } from "prom-client";

export interface HttpEndpoints {
  registry: Registry;
  isReady: () => boolean;
}

export async function startHttpServer(host: string, port: number, endpoints: HttpEndpoints): Promise<{ server: Server; port: number }> {
  const server = createServer((request, response) => {
    const path = (request.url ?? "/").split("?")[0];
    if (request.method !== "GET") {
      response.writeHead(405, { "content-type": "text/plain" }).end("only GET is supported\n");
      return;
    }
    if (path === "/metrics") {
      endpoints.registry.metrics().then(
        (text) => response.writeHead(200, { "content-type": endpoints.registry.contentType }).end(text),
        (error: Error) => response.writeHead(500, { "content-type": "text/plain" }).end(`metrics failed: ${error.message}\n`),
      );
      return;
    }
    if (path === "/healthz") {
      response.writeHead(200, { "content-type": "text/plain" }).end("ok\n");
      return;
    }
    if (path === "/readyz") {
      const ready = endpoints.isReady();
      response.writeHead(ready ? 200 : 503, { "content-type": "text/plain" }).end(ready ? "ready\n" : "not ready\n");
      return;
    }
    response.writeHead(404, { "content-type": "text/plain" }).end("not found: try /metrics, /healthz or /readyz\n");
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => resolve());
  });
  return { server, port: (server.address() as AddressInfo).port };
}
