/**
 * A second process that loads the daemon's API over loopback (the campaign's stand-in for `wrk`): CONCURRENCY
 * keep-alive clients, each looping over a mix of reads (status, episodes, sessions, models, OpenAPI), unauthenticated
 * writes (refused) and unknown routes, until `seconds` pass. Prints `LOAD <requests> <5xx> <errors>` at the end and
 * `TICK <requests>` every second.
 *
 *   node --import tsx src/campaign/load-child.ts '{"url":"http://127.0.0.1:PORT","concurrency":16,"seconds":30}'
 *
 * An internal child, not a command: like the trainer child (online/child.ts) it takes one JSON object (LoadConfig,
 * written by estop-load.ts through loadArgs), so its settings are declared here once and parsed by no one else.
 */
import http from 'node:http';
import { childConfigArg } from '../util/child-config.ts';

export interface LoadConfig {
  url: string;
  /** Keep-alive clients. */
  concurrency: number;
  /** How long to load the API. */
  seconds: number;
}

/** The child's argv: the config as one JSON argument. */
export const loadArgs = (c: LoadConfig): string[] => [JSON.stringify(c)];

/** Parses and checks the child's argv[2]; an error names the field. */
export function loadConfigOf(json: string | undefined): LoadConfig {
  const c = childConfigArg<LoadConfig>('load child config', json);
  if (typeof c.url !== 'string' || !/^https?:\/\//.test(c.url)) throw new Error(`load child config: url must be an http URL, got ${JSON.stringify(c.url)}`);
  if (!Number.isInteger(c.concurrency) || (c.concurrency as number) < 1)
    throw new Error(`load child config: concurrency must be an integer >= 1, got ${JSON.stringify(c.concurrency)}`);
  if (typeof c.seconds !== 'number' || !(c.seconds > 0)) throw new Error(`load child config: seconds must be a number > 0, got ${JSON.stringify(c.seconds)}`);
  return c as LoadConfig;
}

if (import.meta.filename === process.argv[1]) await main(loadConfigOf(process.argv[2]));

async function main({ url, concurrency, seconds }: LoadConfig): Promise<void> {
  const until = Date.now() + seconds * 1000;
  const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
  const paths: Array<[string, string]> = [
    ['GET', '/status'],
    ['GET', '/episodes?limit=20'],
    ['GET', '/sessions'],
    ['GET', '/models'],
    ['GET', '/status'],
    ['POST', '/practice/start'],
    ['GET', '/no-such-route'],
    ['GET', '/openapi.json'],
    ['POST', '/models/rollback'],
  ];
  let requests = 0;
  let server5xx = 0;
  let errors = 0;

  function one(method: string, path: string): Promise<void> {
    return new Promise((resolve) => {
      const req = http.request(`${url}${path}`, { method, agent, headers: method === 'POST' ? { 'content-type': 'application/json' } : {} }, (res) => {
        res.resume();
        res.on('end', () => {
          requests++;
          if ((res.statusCode ?? 0) >= 500) server5xx++;
          resolve();
        });
      });
      req.on('error', () => {
        errors++;
        resolve();
      });
      req.end(method === 'POST' ? '{"count": 1}' : undefined);
    });
  }

  async function client(i: number): Promise<void> {
    let k = i;
    while (Date.now() < until) {
      const [m, p] = paths[k++ % paths.length] as [string, string];
      await one(m, p);
    }
  }

  const timer = setInterval(() => console.log(`TICK ${requests}`), 1000);
  await Promise.all(Array.from({ length: concurrency }, (_, i) => client(i)));
  clearInterval(timer);
  console.log(`LOAD ${requests} ${server5xx} ${errors}`);
  agent.destroy();
}
