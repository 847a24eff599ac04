/**
 * One MuJoCo wasm module per process, shared by every simulated cell (the module is ~10 MB of code and
 * its own heap; models and data are cheap by comparison).
 */
import load, { type MainModule } from 'mujoco';

export type Mujoco = MainModule;

let modulePromise: Promise<Mujoco> | null = null;
let fsReady = false;
let fileCounter = 0;

export function mujoco(): Promise<Mujoco> {
  if (!modulePromise) {
    modulePromise = load().catch((e: unknown) => {
      modulePromise = null;
      throw new Error(`failed to load the MuJoCo wasm module: ${(e as Error).message}`);
    });
  }
  return modulePromise;
}

/** Compile an MJCF string through the module's virtual file system (the bindings load models from files). */
export function compileXml(mj: Mujoco, xml: string): ReturnType<Mujoco['MjModel']['mj_loadXML']> {
  if (!fsReady) {
    try {
      mj.FS.mkdir('/cells');
    } catch {
      // exists already (another loader in this process)
    }
    fsReady = true;
  }
  const path = `/cells/model_${process.pid}_${fileCounter++}.xml`;
  mj.FS.writeFile(path, xml);
  try {
    return mj.MjModel.mj_loadXML(path);
  } catch (e) {
    throw new Error(`MuJoCo rejected the generated model: ${describeWasmError(mj, e)}`);
  } finally {
    mj.FS.unlink(path);
  }
}

/** Embind throws numbers (pointers) or Error objects; turn either into text. */
export function describeWasmError(mj: Mujoco, e: unknown): string {
  if (e instanceof Error) return e.message;
  const m = mj as unknown as { getExceptionMessage?: (x: unknown) => unknown };
  if (typeof e === 'number' && typeof m.getExceptionMessage === 'function') {
    try {
      return String(m.getExceptionMessage(e));
    } catch {
      // fall through
    }
  }
  return String(e);
}

/**
 * Cached typed-array views of MjData fields. Each embind getter builds a fresh view (~10 us), far too slow
 * inside the 1 kHz physics loop; a cached view is detached (length 0) once wasm memory grows, so re-fetch then.
 */
export class DataViews {
  private cache = new Map<string, Float64Array>();
  constructor(private readonly data: object) {}
  get(
    field:
      | 'qpos'
      | 'qvel'
      | 'ctrl'
      | 'site_xpos'
      | 'site_xmat'
      | 'sensordata'
      | 'qfrc_actuator'
      | 'qfrc_applied'
      | 'qM'
      | 'geom_xpos'
      | 'geom_xmat'
      | 'xipos'
      | 'xpos'
      | 'xmat'
      | 'xanchor'
      | 'xaxis',
  ): Float64Array {
    let v = this.cache.get(field);
    if (v === undefined || v.length === 0) {
      v = (this.data as Record<string, Float64Array>)[field]!;
      this.cache.set(field, v);
    }
    return v;
  }
}
