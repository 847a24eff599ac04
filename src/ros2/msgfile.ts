/**
 * ROS 2 message definitions for MCAP (schema encoding 'ros2msg', message encoding 'cdr'), as rosbag2's MCAP
 * storage writes them: the type's .msg text followed by each dependency's, separated by a line of 80 '=' and a
 * `MSG: pkg/Type` line. Standard types come from @foxglove/rosmsg-msgs-common (its ROS 2 Humble .msg files are
 * already in that concatenated form); the project's own types live in src/ros2/msg/*.msg. Definitions are
 * parsed by @foxglove/rosmsg and (de)serialised by @foxglove/rosmsg2-serialization: no hand-written CDR.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from '@foxglove/rosmsg';
import { MessageReader, MessageWriter } from '@foxglove/rosmsg2-serialization';

const require = createRequire(import.meta.url);
const COMMON_DIR = join(dirname(require.resolve('@foxglove/rosmsg-msgs-common/package.json')), 'msgdefs', 'ros2humble');
const OWN_DIR = join(dirname(fileURLToPath(import.meta.url)), 'msg');
const OWN_PACKAGE = 'insertion_daemon';
const SEPARATOR = '='.repeat(80);

/** Parsed definitions (the type lives in a dependency of these packages, so it is named through parse's). */
export type MessageDefinitions = ReturnType<typeof parse>;

export class Ros2MsgError extends Error {
  override name = 'Ros2MsgError';
}

/** Dependencies of the project's own types (standard types' files carry theirs). */
const OWN_DEPS: Record<string, readonly string[]> = {
  EpisodeEvent: ['std_msgs/msg/Header'],
};

function splitName(name: string): { pkg: string; type: string } {
  const m = /^([a-z][a-z0-9_]*)\/msg\/([A-Z][A-Za-z0-9]*)$/.exec(name);
  if (!m) throw new Ros2MsgError(`'${name}' is not a ROS 2 message type name (pkg/msg/Type)`);
  return { pkg: m[1]!, type: m[2]! };
}

const textCache = new Map<string, string>();

/** The full ros2msg schema text of a message type, e.g. 'geometry_msgs/msg/WrenchStamped'. */
export function schemaText(name: string): string {
  const hit = textCache.get(name);
  if (hit !== undefined) return hit;
  const { pkg, type } = splitName(name);
  let text: string;
  if (pkg === OWN_PACKAGE) {
    const own = readFileSync(join(OWN_DIR, `${type}.msg`), 'utf8').trimEnd();
    const deps = (OWN_DEPS[type] ?? []).map((d) => {
      const { pkg: dp, type: dt } = splitName(d);
      // A dependency's own block only (its file may carry its dependencies after the first separator).
      const first = schemaText(d).split(`\n${SEPARATOR}\n`)[0]!.trimEnd();
      return `${SEPARATOR}\nMSG: ${dp}/${dt}\n${first}`;
    });
    text = [own, ...deps].join('\n') + '\n';
  } else {
    try {
      text = readFileSync(join(COMMON_DIR, pkg, 'msg', `${type}.msg`), 'utf8');
    } catch {
      throw new Ros2MsgError(`no ROS 2 definition of ${name} in @foxglove/rosmsg-msgs-common (ros2humble)`);
    }
  }
  textCache.set(name, text);
  return text;
}

/** Parses a ros2msg schema text (as found in any MCAP) into definitions for the (de)serialisers. */
export function parseSchema(text: string, name: string): MessageDefinitions {
  try {
    return parse(text, { ros2: true });
  } catch (e) {
    throw new Ros2MsgError(`schema ${name}: does not parse as ros2msg: ${(e as Error).message}`);
  }
}

export interface Ros2Type {
  name: string;
  /** Schema data to store in the MCAP Schema record. */
  text: string;
  writer: MessageWriter;
}

export function ros2Type(name: string): Ros2Type {
  const text = schemaText(name);
  return { name, text, writer: new MessageWriter(parseSchema(text, name)) };
}

export function ros2Reader<T>(text: string, name: string): MessageReader<T> {
  return new MessageReader<T>(parseSchema(text, name));
}

/** builtin_interfaces/Time of a time in nanoseconds (non-negative). */
export function rosTime(ns: bigint): { sec: number; nanosec: number } {
  const t = ns < 0n ? 0n : ns;
  return { sec: Number(t / 1_000_000_000n), nanosec: Number(t % 1_000_000_000n) };
}

export function rosTimeNs(t: { sec: number; nanosec: number }): bigint {
  return BigInt(t.sec) * 1_000_000_000n + BigInt(t.nanosec);
}

/** Seconds (float) to integer nanoseconds, rounded. */
export function secToNs(s: number): bigint {
  return BigInt(Math.round(s * 1e9));
}
