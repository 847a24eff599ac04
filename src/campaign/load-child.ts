/**
 * A second process that loads the daemon's API over loopback (the campaign's stand-in for `wrk`): CONCURRENCY
 * keep-alive clients, each looping over a mix of reads (status, episodes, sessions, models, OpenAPI), unauthenticated
 * writes (refused) and unknown routes, until SECONDS pass. Prints `LOAD <requests> <5xx> <errors>` at the end and
 * `TICK <requests>` every second.
 *
 *   node --import tsx src/campaign/load-child.ts http://127.0.0.1:PORT [CONCURRENCY=16] [SECONDS=30]
 */
import http from 'node:http';

const [url = '', cArg = '16', sArg = '30'] = process.argv.slice(2);
const concurrency = Number(cArg);
const until = Date.now() + Number(sArg) * 1000;
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
