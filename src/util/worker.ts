import { Worker } from 'node:worker_threads';

/**
 * Starts a worker thread on the module at `url`. Node 20 cannot start a .ts worker entry even when this process
 * runs under --import tsx, so a .ts entry is loaded through a tiny eval'd module that registers tsx first.
 */
export function startWorker(url: URL, workerData: unknown): Worker {
  if (!url.pathname.endsWith('.ts')) return new Worker(url, { workerData });
  const tsx = import.meta.resolve('tsx/esm/api');
  const code = `import(${JSON.stringify(tsx)}).then((m) => { m.register(); return import(${JSON.stringify(url.href)}); });`;
  return new Worker(code, { eval: true, workerData });
}
