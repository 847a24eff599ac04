/** The daemon's requests for outcome labels (issue 13): why it asks, and a button per outcome (POST /episodes/:id/label). */
import { memo } from 'preact/compat';
import { act } from './api.ts';
import { Card } from './panels-live.tsx';
import type { DaemonStatus } from './types.ts';
import { fmt } from './util.ts';

const WHY: Record<string, string> = {
  uncertain: 'reward unsure',
  'flip-flop': 'reward changed its mind',
  'physical-disagreement': 'tip pose disagrees',
  'height-refusal': 'refused at the warned height',
};

export const LabelsCard = memo(function LabelsCard({ s }: { s: DaemonStatus | null }) {
  const l = s?.labels;
  const open = [...(l?.open ?? [])].reverse();
  const label = (id: number, success: boolean): void => {
    void act(`Label episode ${id} ${success ? 'success' : 'failure'}`, `/episodes/${id}/label`, { success });
  };
  return (
    <Card title="Label requests" id="labels" aside={l ? `${l.requested} asked of ${l.judged} episodes · budget ${Math.round(100 * l.budget)} %` : undefined}>
      {open.length === 0 ? (
        <p class="muted small" data-testid="no-label-requests">
          No open requests: the learned reward has been sure, and agreed with the tip pose.
        </p>
      ) : (
        <table class="small" data-testid="label-requests">
          <tbody>
            {open.map((q) => (
              <tr key={q.episodeId}>
                <td class="mono">#{q.episodeId}</td>
                <td>{q.domain}</td>
                <td>
                  reward {fmt(q.finalProb, 2)}
                  {q.heightAboveGoalM !== null ? ` · tip ${fmt(1000 * q.heightAboveGoalM, 1)} mm up` : ''}
                </td>
                <td class="muted">{q.reasons.map((r) => WHY[r] ?? r).join(', ')}</td>
                <td>
                  <button class="btn" onClick={() => label(q.episodeId, true)} data-testid={`label-success-${q.episodeId}`}>
                    seated
                  </button>{' '}
                  <button class="btn" onClick={() => label(q.episodeId, false)} data-testid={`label-failure-${q.episodeId}`}>
                    not seated
                  </button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </Card>
  );
});
