/**
 * Server-sent event streams (/events, the dashboard's /live): the reply is taken over from fastify, the stream's
 * headers go out, a comment line every 15 s keeps proxies from closing it, and every open stream ends when the server
 * closes (fastify's close() would otherwise wait for every page to hang up).
 */
import type { ServerResponse } from 'node:http';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';

/** A stream's opener for one app: returns the response to write events to; `onClose` runs once, however it ends. */
export type OpenStream = (req: FastifyRequest, reply: FastifyReply, onClose: () => void) => ServerResponse;

export function eventStreams(app: FastifyInstance): OpenStream {
  const open = new Set<() => void>();
  app.addHook('preClose', async () => {
    for (const end of [...open]) end();
  });
  return (req, reply, onClose) => {
    reply.hijack();
    const res = reply.raw;
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive', 'x-accel-buffering': 'no' });
    const heartbeat = setInterval(() => res.write(': keep-alive\n\n'), 15000);
    let closed = false;
    const cleanup = (): void => {
      if (closed) return;
      closed = true;
      clearInterval(heartbeat);
      open.delete(end);
      onClose();
    };
    const end = (): void => {
      cleanup();
      res.end();
    };
    open.add(end);
    req.raw.on('close', cleanup);
    return res;
  };
}

/** One event as the stream writes it. */
export const sseEvent = (event: string, data: unknown): string => `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
