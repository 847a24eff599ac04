/**
 * The background trainer as its own process against a daemon's database (the daemon normally starts it itself).
 * Each export is registered in the store; with --daemon-url it is also activated over REST (the daemon swaps it in at
 * the next episode boundary; $DAEMON_TOKEN authorises). Stop with SIGINT/SIGTERM (finishes the current update).
 *
 *   npx tsx src/cli/trainer.ts --db data/daemon.db --checkpoint data/runs/iql [--offline-db data/prior.db]
 *       [--work-dir data/runs/trainer] [--online-fraction 1] [--utd 3] [--utd-late-after 0] [--utd-late 2] [--batch-size 256] [--export-every 0] [--warmup-updates 0]
 *       [--connectors a,b] [--reward rewardProb|gt] [--daemon-url http://127.0.0.1:8750]
 * The defaults are the declared learning settings (src/config/schema.ts, the `learning` section the daemon reads).
 */
import { runTrainerLoop } from '../online/child.ts';
import { command, existingFile, fromArgv, optionalText, T } from './flags.ts';
import { trainerConfigOf, trainerFields } from './trainer-flags.ts';
import { runIfMain } from '../util/args.ts';

/** The command line, declared once (src/cli/flags.ts); the trainer's own flags are shared with the fleet learner. */
export const TRAINER = command({
  name: 'trainer',
  usage: 'npx tsx src/cli/trainer.ts --db FILE [flags]',
  about:
    "The background trainer as its own process against a daemon's database. Defaults: the learning section of config/daemon.yaml as declared in src/config/schema.ts.",
  flags: T.object({
    db: T.string({ minLength: 1, description: "the daemon's log", cli: { arg: 'FILE' } }),
    ...trainerFields({ checkpoint: 'data/runs/iql', workDir: 'data/runs/trainer' }),
    daemonUrl: optionalText('activate each export over REST ($DAEMON_TOKEN authorises)', 'URL', 'none'),
  }),
});

export async function main(argv: string[]): Promise<number> {
  const r = fromArgv(TRAINER, argv, (a) => ({
    cfg: { ...trainerConfigOf(a), db: existingFile('--db', a.db) },
    url: a.daemonUrl ?? null,
  }));
  if (typeof r === 'number') return r;
  const { cfg, url } = r;
  let stop = false;
  process.on('SIGINT', () => (stop = true));
  process.on('SIGTERM', () => (stop = true));
  await runTrainerLoop(cfg, {
    pollMs: 500,
    shouldStop: () => stop,
    emit: (m) => {
      if (m.type === 'progress' || m.type === 'ready') {
        const p = m.progress;
        console.log(
          `${new Date().toISOString()} ${m.type}: ${p.updates} updates (${p.updatesPerSec?.toFixed(1) ?? '-'} /s), ${p.onlineTransitions} online + ${p.offlineTransitions} offline transitions, owed ${p.owed}, losses ${p.losses ? `V ${p.losses.vLoss.toFixed(4)} Q ${p.losses.qLoss.toFixed(4)} pi ${p.losses.piLoss.toFixed(3)}` : '-'}, mean reward ${p.meanPredictedReward?.toFixed(3) ?? '-'}`,
        );
      } else if (m.type === 'export') {
        console.log(`exported ${m.info.version} -> ${m.info.path} (model ${m.info.modelId})`);
        if (url) {
          void fetch(`${url}/models/${m.info.modelId}/activate`, {
            method: 'POST',
            headers: { 'content-type': 'application/json', authorization: `Bearer ${process.env.DAEMON_TOKEN ?? ''}` },
            body: JSON.stringify({ reason: 'background trainer export' }),
          }).then(
            async (r) => console.log(`activate ${m.info.version}: HTTP ${r.status} ${await r.text()}`),
            (e: unknown) => console.error(`activate failed: ${(e as Error).message}`),
          );
        }
      }
    },
  });
  return 0;
}

runIfMain(import.meta.url, 'trainer', () => main(process.argv.slice(2)));
