/**
 * The types every layer shares: what a robot observes, where an episode starts, what a simulator knows.
 * Units: metres, newtons, newton-metres, seconds. Frames: the robot base frame, z up.
 */

export type Vec3 = [number, number, number];

/** An RGB image, row-major, 3 bytes per pixel, no padding. */
export interface RgbImage {
  width: number;
  height: number;
  /** length width*height*3 */
  data: Uint8Array;
}

/**
 * A depth image registered to the colour image (same size and pixel grid): distance along the optical axis (m), as an
 * RGB-D wrist camera (e.g. a RealSense D405) reports it; 0 = no valid depth (too near, no return), as such cameras do.
 */
/**
 * What a robot backend observes beyond the colour image, wrench and pose every backend gives: what a model's inputs
 * are checked against before it may drive (policy/inputs.ts unmetSensors).
 */
export interface BackendSensors {
  /** The wrist camera's depth image registered to the colour image (Observation.depth). */
  depth: boolean;
}

export interface DepthImage {
  width: number;
  height: number;
  /** length width*height, metres */
  data: Float32Array;
}

/** Force (N) then torque (N m) at the wrist, in the base frame. */
export type Wrench = [number, number, number, number, number, number];

/** One synchronised reading of everything the controller needs. */
export interface Observation {
  image: RgbImage;
  /** The wrist camera's depth image, when the backend has one (the simulator with `depth`, a ROS depth topic). */
  depth?: DepthImage;
  /** Bias-corrected wrist wrench. */
  wrench: Wrench;
  /** End-effector (connector tip) position. */
  eePos: Vec3;
  /** End-effector orientation as a unit quaternion [w, x, y, z]. */
  eeQuat: [number, number, number, number];
  /** The commanded goal x*: nominal socket position as calibrated (may be wrong by the calibration error). */
  goal: Vec3;
  /** Acquisition times (s, backend clock) of the camera frame and of the wrench sample, for the stale-sensor watchdog. */
  imageStamp: number;
  wrenchStamp: number;
  /** Acquisition time (s, backend clock) of the depth image, for the watchdog when a model uses depth; absent: the
   *  colour frame's (a camera giving both in one frame, as the simulator does). */
  depthStamp?: number;
  /** Why there is no depth image although the backend has a depth camera: its newest frame was refused (ROS: size or
   *  encoding), said in the e-stop text of a model that needs it. */
  depthFault?: string;
}

/** Start distribution of an episode (the research's): I within +-10 mm of the socket, II 10-20 mm away. */
export type Scenario = 'I' | 'II';

/** Ground truth a simulator can report; used for evaluation only, never on the control path for learning by default. */
export interface GroundTruth {
  success: boolean;
  /** Depth of the connector tip below the socket face (m); the connector is seated at its insertion depth. */
  depth: number;
  /** Tip position when fully seated (m). */
  socketPos: Vec3;
  /** Horizontal distance of the tip from the seated position / socket axis (m). */
  lateralError: number;
}
