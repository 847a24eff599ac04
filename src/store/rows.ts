/** Mapping between TransitionInput / TransitionRecord and the transitions table's columns. Shared with the writer worker. */
import type { Vec3, Wrench } from '../core/types.ts';
import {
  DEPTH_CODEC,
  IMAGE_CODEC,
  IMAGE_FORMAT,
  checkDepth,
  checkImage,
  decodeDepth,
  decodeImage,
  decodeVec,
  decodeVecOrNull,
  encodeDepth,
  encodeImage,
  encodeVec,
  encodeVecOrNull,
} from './codec.ts';
import type { EpisodeEnd, EpisodeOutcome, RewardUpdate, TransitionInput, TransitionRecord } from './types.ts';

export const INSERT_TRANSITION_SQL = `INSERT INTO transitions (
  episode_id, step, image_width, image_height, image_format, image_codec, image,
  wrench, ee_pos, ee_quat, goal, action_p, action_residual, action_executed,
  reward_prob, gt_success, done, tick_time, image_stamp, wrench_stamp, policy_version, wall_time,
  intervention, intervention_source, depth_width, depth_height, depth_codec, depth
) VALUES (
  @episode_id, @step, @image_width, @image_height, @image_format, @image_codec, @image,
  @wrench, @ee_pos, @ee_quat, @goal, @action_p, @action_residual, @action_executed,
  @reward_prob, @gt_success, @done, @tick_time, @image_stamp, @wrench_stamp, @policy_version, @wall_time,
  @intervention, @intervention_source, @depth_width, @depth_height, @depth_codec, @depth
)`;

export type TransitionParams = Record<string, number | string | Buffer | null>;

/** Relabels one logged step: reward always; ground truth and done only when the update carries them. */
export const UPDATE_REWARD_SQL = `UPDATE transitions SET reward_prob = @reward_prob,
  gt_success = CASE WHEN @set_gt THEN @gt_success ELSE gt_success END,
  done = CASE WHEN @set_done THEN @done ELSE done END
  WHERE episode_id = @episode_id AND step = @step`;

/** Closes an open episode; changes 0 rows when it does not exist or has already ended. */
export const END_EPISODE_SQL = `UPDATE episodes SET outcome = @outcome, reason = @reason, learned_success_prob = @learned_success_prob,
  gt_success = @gt_success, ended_at = @ended_at WHERE id = @id AND ended_at IS NULL`;

export const OUTCOMES: readonly EpisodeOutcome[] = ['success', 'failure', 'aborted', 'tripped', 'error'];

export function endParams(id: number, end: EpisodeEnd): TransitionParams {
  if (!OUTCOMES.includes(end.outcome)) throw new TypeError(`episode end.outcome must be one of ${OUTCOMES.join('|')}, got ${JSON.stringify(end.outcome)}`);
  return {
    id,
    outcome: end.outcome,
    reason: end.reason ?? null,
    learned_success_prob: end.learnedSuccessProb ?? null,
    gt_success: end.gtSuccess == null ? null : end.gtSuccess ? 1 : 0,
    ended_at: end.endedAt ?? Date.now(),
  };
}

export function rewardParams(episodeId: number, u: RewardUpdate): TransitionParams {
  return {
    episode_id: episodeId,
    step: u.step,
    reward_prob: u.rewardProb,
    set_gt: u.gtSuccess === undefined ? 0 : 1,
    gt_success: u.gtSuccess == null ? null : u.gtSuccess ? 1 : 0,
    set_done: u.done === undefined ? 0 : 1,
    done: u.done ? 1 : 0,
  };
}

const numOrNull = (v: number | null | undefined): number | null => (v == null ? null : v);
const boolOrNull = (v: boolean | null | undefined): number | null => (v == null ? null : v ? 1 : 0);

/** Validates and encodes (including the image compression, the expensive part). Errors name the field. */
export function transitionParams(t: TransitionInput, where = 'transition'): TransitionParams {
  if (!Number.isInteger(t.episodeId) || t.episodeId <= 0) throw new TypeError(`${where}.episodeId must be a positive integer, got ${t.episodeId}`);
  if (!Number.isInteger(t.step) || t.step < 0) throw new TypeError(`${where}.step must be a non-negative integer, got ${t.step}`);
  const o = t.obs;
  if (o == null) throw new TypeError(`${where}.obs is missing`);
  checkImage(o.image, `${where}.obs`);
  if (o.depth) checkDepth(o.depth, `${where}.obs`);
  return {
    episode_id: t.episodeId,
    step: t.step,
    image_width: o.image.width,
    image_height: o.image.height,
    image_format: IMAGE_FORMAT,
    image_codec: IMAGE_CODEC,
    image: encodeImage(o.image),
    wrench: encodeVec(o.wrench, 6, `${where}.obs.wrench`),
    ee_pos: encodeVec(o.eePos, 3, `${where}.obs.eePos`),
    ee_quat: encodeVec(o.eeQuat, 4, `${where}.obs.eeQuat`),
    goal: encodeVec(o.goal, 3, `${where}.obs.goal`),
    action_p: encodeVecOrNull(t.actionP, 3, `${where}.actionP`),
    action_residual: encodeVecOrNull(t.actionResidual, 3, `${where}.actionResidual`),
    action_executed: encodeVecOrNull(t.actionExecuted, 3, `${where}.actionExecuted`),
    reward_prob: numOrNull(t.rewardProb),
    gt_success: boolOrNull(t.gtSuccess),
    done: t.done ? 1 : 0,
    tick_time: numOrNull(t.tickTime),
    image_stamp: numOrNull(o.imageStamp),
    wrench_stamp: numOrNull(o.wrenchStamp),
    policy_version: t.policyVersion ?? null,
    wall_time: t.wallTime ?? Date.now(),
    intervention: t.intervention ? 1 : 0,
    intervention_source: t.intervention ? (t.interventionSource ?? 'unknown') : null,
    depth_width: o.depth ? o.depth.width : null,
    depth_height: o.depth ? o.depth.height : null,
    depth_codec: o.depth ? DEPTH_CODEC : null,
    depth: o.depth ? encodeDepth(o.depth) : null,
  };
}

/** Schema-1 columns but the wall-clock time and the image blob: what Store.datasetDigest hashes of every row. */
export const TRANSITION_DIGEST_COLS_V1 = `t.id, t.episode_id, t.step, t.image_width, t.image_height, t.image_format, t.image_codec,
  t.wrench, t.ee_pos, t.ee_quat, t.goal, t.action_p, t.action_residual, t.action_executed,
  t.reward_prob, t.gt_success, t.done, t.tick_time, t.image_stamp, t.wrench_stamp, t.policy_version`;
/** The columns of schema version 1, without the image blob. */
export const TRANSITION_COLS_V1_NO_IMAGE = `${TRANSITION_DIGEST_COLS_V1}, t.wall_time`;
/** Column list without the image blob, for reads that do not need pixels. */
export const TRANSITION_COLS_NO_IMAGE = `${TRANSITION_COLS_V1_NO_IMAGE}, t.intervention, t.intervention_source, t.depth_width, t.depth_height, t.depth_codec`;
/** With the pixels: the image, and the depth image when one was logged (schema 5). */
export const TRANSITION_COLS = `${TRANSITION_COLS_NO_IMAGE}, t.image, t.depth`;

export interface TransitionRow {
  id: number;
  episode_id: number;
  step: number;
  image_width: number | null;
  image_height: number | null;
  image_format: string | null;
  image_codec: string | null;
  image?: Buffer | null;
  wrench: Buffer;
  ee_pos: Buffer;
  ee_quat: Buffer;
  goal: Buffer;
  action_p: Buffer | null;
  action_residual: Buffer | null;
  action_executed: Buffer | null;
  reward_prob: number | null;
  gt_success: number | null;
  done: number;
  tick_time: number | null;
  image_stamp: number | null;
  wrench_stamp: number | null;
  policy_version: string | null;
  wall_time: number;
  intervention: number;
  intervention_source: string | null;
  depth_width?: number | null;
  depth_height?: number | null;
  depth_codec?: string | null;
  depth?: Buffer | null;
}

export function transitionFromRow(r: TransitionRow, file: string): TransitionRecord {
  const where = `${file}: transitions.id=${r.id}`;
  let image = null;
  if (r.image != null) {
    if (r.image_format !== IMAGE_FORMAT) throw new TypeError(`${where}: unknown image_format '${r.image_format}'`);
    image = decodeImage(r.image, r.image_width ?? 0, r.image_height ?? 0, r.image_codec ?? '', where);
  }
  const depth = r.depth != null ? decodeDepth(r.depth, r.depth_width ?? 0, r.depth_height ?? 0, r.depth_codec ?? '', where) : null;
  return {
    id: r.id,
    episodeId: r.episode_id,
    step: r.step,
    image,
    depth,
    imageWidth: r.image_width,
    imageHeight: r.image_height,
    wrench: decodeVec(r.wrench, 6, `${where} wrench`) as Wrench,
    eePos: decodeVec(r.ee_pos, 3, `${where} ee_pos`) as Vec3,
    eeQuat: decodeVec(r.ee_quat, 4, `${where} ee_quat`) as [number, number, number, number],
    goal: decodeVec(r.goal, 3, `${where} goal`) as Vec3,
    actionP: decodeVecOrNull(r.action_p, 3, `${where} action_p`) as Vec3 | null,
    actionResidual: decodeVecOrNull(r.action_residual, 3, `${where} action_residual`) as Vec3 | null,
    actionExecuted: decodeVecOrNull(r.action_executed, 3, `${where} action_executed`) as Vec3 | null,
    rewardProb: r.reward_prob,
    gtSuccess: r.gt_success == null ? null : r.gt_success === 1,
    done: r.done === 1,
    tickTime: r.tick_time,
    imageStamp: r.image_stamp,
    wrenchStamp: r.wrench_stamp,
    policyVersion: r.policy_version,
    intervention: r.intervention === 1,
    interventionSource: r.intervention_source,
    wallTime: r.wall_time,
  };
}
