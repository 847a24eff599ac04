/**
 * Controllers by name, for the evaluation CLI, prior-data collection and tests.
 * Each factory returns a fresh instance (controllers hold per-episode state).
 */
import {
  LocalizeFirst,
  Localize,
  RandomSearch,
  SpiralSearch,
  StraightDown,
  type LocalizeConfig,
  type RandomSearchConfig,
  type SpiralSearchConfig,
  type StraightDownConfig,
} from './baselines.ts';
import type { Controller } from './controller.ts';
import { FacePress, SeatLift, type FacePressConfig, type SeatLiftConfig } from './hard-negatives.ts';
import { NoisyExpert, type NoisyExpertConfig } from './noisy-expert.ts';
import { PController, type PControllerConfig } from './p-controller.ts';
import { PolicyController, type PolicyControllerConfig } from './policy-controller.ts';

/** Per-controller config overrides; each applies to every controller that uses that config. */
export interface ControllerOverrides {
  p?: Partial<PControllerConfig>;
  expert?: Partial<NoisyExpertConfig>;
  'face-press'?: Partial<FacePressConfig>;
  'seat-lift'?: Partial<SeatLiftConfig>;
  straight?: Partial<StraightDownConfig>;
  random?: Partial<RandomSearchConfig>;
  spiral?: Partial<SpiralSearchConfig>;
  /** Used by `localize` and by the localize-first variants. */
  localize?: Partial<LocalizeConfig>;
  /** `policy`: the ONNX residual policy (modelPath, default models/policy.onnx) on top of the P-controller. */
  policy?: Partial<PolicyControllerConfig>;
}

interface Entry {
  description: string;
  /** Runs a learned model (async act, needs a model file): kept out of CONTROLLER_NAMES, the scripted list. */
  learned?: boolean;
  /** Reads the true socket pose (the prior-data collectors, and the localize stand-in for its estimate). */
  privileged: boolean;
  /** A prior-data collector (it steers by the true socket pose), never a baseline. */
  collectorOnly?: boolean;
  make: (o: ControllerOverrides) => Controller;
}

const REGISTRY: Record<string, Entry> = {
  p: {
    description: 'P-controller u = -kp (x - x*), kp = [1, 1, 0.3] (residual RL base controller)',
    privileged: false,
    make: (o) => new PController(o.p),
  },
  straight: {
    description: 'straight down from the start position, pressing',
    privileged: false,
    make: (o) => new StraightDown(o.straight),
  },
  random: {
    description: 'down until contact, then 5 random positions around the contact point while pressing',
    privileged: false,
    make: (o) => new RandomSearch(o.random),
  },
  spiral: {
    description: 'down until contact, then an Archimedean spiral around the contact point while pressing',
    privileged: false,
    make: (o) => new SpiralSearch(o.spiral),
  },
  localize: {
    description: 'move to a socket estimate (true pose + configurable error, stand-in for a regression model), then down',
    privileged: true,
    make: (o) => new Localize(o.localize),
  },
  'loc-straight': {
    description: 'localize first, then straight down (research scenario II baseline)',
    privileged: true,
    make: (o) => new LocalizeFirst(new StraightDown(o.straight), o.localize),
  },
  'loc-random': {
    description: 'localize first, then random search (research scenario II baseline)',
    privileged: true,
    make: (o) => new LocalizeFirst(new RandomSearch(o.random), o.localize),
  },
  'loc-spiral': {
    description: 'localize first, then spiral search (research scenario II baseline)',
    privileged: true,
    make: (o) => new LocalizeFirst(new SpiralSearch(o.spiral), o.localize),
  },
  policy: {
    description: 'P-controller + learned residual from an ONNX policy (default models/policy.onnx), as the daemon runs it',
    privileged: false,
    learned: true,
    make: (o) => new PolicyController(o.policy),
  },
  expert: {
    description: 'noisy scripted expert (prior-data collector; uses the true socket pose, random action w.p. 0.2)',
    privileged: true,
    collectorOnly: true,
    make: (o) => new NoisyExpert(o.expert),
  },
  'face-press': {
    description: 'hard negatives for the reward (prior data only): the plug pressed on the socket face 1.5-6 mm beside the true centre-line',
    privileged: true,
    collectorOnly: true,
    make: (o) => new FacePress(o['face-press']),
  },
  'seat-lift': {
    description: 'hard negatives for the reward (prior data only): seated on the true centre-line, then lifted 1-4 mm and pressed home, in turns',
    privileged: true,
    collectorOnly: true,
    make: (o) => new SeatLift(o['seat-lift']),
  },
};

/** The scripted controllers (synchronous act, no model file). */
export const CONTROLLER_NAMES: readonly string[] = Object.keys(REGISTRY).filter((n) => !REGISTRY[n]?.learned);
/** Controllers that run a learned model (async act; `policy` reads models/policy.onnx unless overridden). */
export const LEARNED_CONTROLLER_NAMES: readonly string[] = Object.keys(REGISTRY).filter((n) => REGISTRY[n]?.learned);

/** The research's baseline columns for each scenario (tables 5 and 6), plus the P-controller. */
export const BASELINES_SCENARIO_I: readonly string[] = ['localize', 'straight', 'random', 'spiral', 'p'];
export const BASELINES_SCENARIO_II: readonly string[] = ['localize', 'loc-straight', 'loc-random', 'loc-spiral', 'p'];

export function isControllerName(name: string): boolean {
  return Object.prototype.hasOwnProperty.call(REGISTRY, name);
}

export function describeController(name: string): string {
  return REGISTRY[name]?.description ?? '';
}

/** Whether the named controller collects prior data only (the noisy expert, the hard-negative collectors). */
export function isCollectorOnly(name: string): boolean {
  return REGISTRY[name]?.collectorOnly ?? false;
}

/** Whether the named controller needs ctx.privileged. */
export function needsPrivileged(name: string): boolean {
  return REGISTRY[name]?.privileged ?? false;
}

/** A fresh controller by name; throws a clear error listing the known names. */
export function createController(name: string, overrides: ControllerOverrides = {}): Controller {
  const e = REGISTRY[name];
  if (!e) throw new Error(`unknown controller "${name}"; known: ${CONTROLLER_NAMES.join(', ')}`);
  return e.make(overrides);
}
