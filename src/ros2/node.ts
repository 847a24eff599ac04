/**
 * The daemon's own face on the ROS graph: std_srvs/Trigger services mirroring REST (start practice, stop practice,
 * e-stop, reset), episode events (std_msgs/String, JSON) and the predicted reward (std_msgs/Float64) per episode,
 * DiagnosticArray status with each input topic's received rate, and the same rates in `/status` (status extra 'ros2').
 */
import type { Ros2Backend } from './backend.ts';
import type { Publisher, Ros2Transport, Closable } from './transport.ts';
import { QOS_DEFAULT } from './transport.ts';
import type { Float64Msg, StringMsg, TriggerResponseMsg } from './messages.ts';

export type EpisodeEvent = { id: number; outcome: string; learnedSuccessProb: number | null };

/** What this needs of the Daemon (src/daemon/loop.ts), structurally. */
export interface DaemonLike {
  startPractice(req: { count: number }): { ok: true } | { ok: false; reason: string };
  stopPractice(): { ok: true; wasRunning: boolean };
  estop(detail?: string): void;
  resetEstop(): { ok: true } | { ok: false; reason: string };
  on(event: 'episode', listener: (summary: EpisodeEvent) => void): unknown;
  off(event: 'episode', listener: (summary: EpisodeEvent) => void): unknown;
  setStatusExtra(name: string, value: unknown): void;
}

export interface DaemonNodeOptions {
  servicePrefix: string;
  episodeTopic: string;
  rewardTopic: string;
  /** Diagnostics and `/status` topic-rate refresh rate (Hz); 0: off. */
  diagnosticsHz: number;
  /** Episodes a start_practice call runs (Trigger has no arguments; REST takes the full request). */
  practiceCount: number;
  /** Age (s) beyond which an input counts as stale in diagnostics (the watchdog's threshold). */
  staleAfter: number;
}

export class DaemonRosNode {
  private readonly closers: Closable[] = [];
  private readonly episodePub: Publisher<StringMsg>;
  private readonly rewardPub: Publisher<Float64Msg>;
  private readonly onEpisode: (s: EpisodeEvent) => void;
  private timer: NodeJS.Timeout | null = null;

  constructor(
    transport: Ros2Transport,
    private readonly daemon: DaemonLike,
    private readonly backend: Ros2Backend | null,
    o: DaemonNodeOptions,
  ) {
    const p = o.servicePrefix.replace(/\/$/, '');
    const reply = (r: { ok: true } | { ok: false; reason: string }, okMessage: string): TriggerResponseMsg =>
      r.ok ? { success: true, message: okMessage } : { success: false, message: r.reason };
    this.closers.push(
      transport.createService(`${p}/start_practice`, 'std_srvs/srv/Trigger', () =>
        reply(this.daemon.startPractice({ count: o.practiceCount }), `practice started (${o.practiceCount} episodes)`),
      ),
      transport.createService(`${p}/stop_practice`, 'std_srvs/srv/Trigger', () => {
        const r = this.daemon.stopPractice();
        return { success: true, message: r.wasRunning ? 'stopping after this episode' : 'no practice was running' };
      }),
      // E-stop first, answer after: nothing may delay the latch.
      transport.createService(`${p}/estop`, 'std_srvs/srv/Trigger', () => {
        this.daemon.estop('ros2 service');
        return { success: true, message: 'e-stop engaged (latched)' };
      }),
      transport.createService(`${p}/reset_estop`, 'std_srvs/srv/Trigger', () => reply(this.daemon.resetEstop(), 'e-stop reset')),
    );
    this.episodePub = transport.createPublisher(o.episodeTopic, 'std_msgs/msg/String', QOS_DEFAULT);
    this.rewardPub = transport.createPublisher(o.rewardTopic, 'std_msgs/msg/Float64', QOS_DEFAULT);
    this.onEpisode = (s) => {
      this.episodePub.publish({ data: JSON.stringify({ event: 'episode', ...s }) });
      if (s.learnedSuccessProb !== null && Number.isFinite(s.learnedSuccessProb)) this.rewardPub.publish({ data: s.learnedSuccessProb });
    };
    this.daemon.on('episode', this.onEpisode);
    if (o.diagnosticsHz > 0 && this.backend) {
      const b = this.backend;
      this.timer = setInterval(() => {
        b.publishDiagnostics(o.staleAfter);
        this.daemon.setStatusExtra('ros2', { topics: b.topicStats(), commandsPublished: b.commandsPublished, commandsSuppressed: b.commandsSuppressed });
      }, 1000 / o.diagnosticsHz);
      this.timer.unref();
    }
  }

  close(): void {
    if (this.timer) clearInterval(this.timer);
    this.daemon.off('episode', this.onEpisode);
    for (const c of this.closers) c.close();
    this.episodePub.close();
    this.rewardPub.close();
  }
}
