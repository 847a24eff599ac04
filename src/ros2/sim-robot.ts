/**
 * The simulated cell as a robot on the ROS 2 graph (run it in its own process: src/cli/ros2-sim-robot.ts). Like a real
 * arm's driver it streams camera, wrist wrench, end-effector pose and e-stop state, publishes the socket pose it knows,
 * and executes motion commands: each TwistStamped (or target PoseStamped) runs one control period of physics.
 * Its e-stop button is reachable as services (`/sim/estop_press`, `/sim/estop_release`); while it is pressed the
 * robot ignores motion commands, as a real controller would.
 *
 * With `jointStates` it is an arm that publishes only sensor_msgs/JointState (right_j0..right_j6, as Sawyer's driver
 * names them) and no Cartesian pose: the daemon then needs the kinematic chain (simArmChain, the URDF's joint origins,
 * the hand and the held connector's length) to know where the tip is. The true tip pose still goes out on
 * `/sim/ee_pose_truth`, for tests to compare against.
 *
 * With the cell's depth camera (CellConfig.depth), it also publishes the depth image registered to the colour image,
 * as an RGB-D camera's aligned depth stream (32FC1 in metres, same size and pixel grid), on `topics.depth`.
 */
import type { SimBackend } from '../robot/sim-backend.ts';
import type { DepthImage, RgbImage, Vec3 } from '../core/types.ts';
import { deltaFromTwistStamped, depthToMsg, header, imageToMsg, poseFromMsg, poseToMsg, wrenchToMsg } from './convert.ts';
import type { BoolMsg, ImageMsg, JointStateMsg, PoseStampedMsg, WrenchStampedMsg } from './messages.ts';
import type { KinematicChain } from './kinematics.ts';
import { SAWYER_HAND, SAWYER_JOINTS } from '../sim/sawyer.ts';
import { QOS_DEFAULT, QOS_LATCHED, QOS_SENSOR, type Closable, type Publisher, type Ros2Transport } from './transport.ts';

export interface SimRobotTopics {
  image: string;
  /** Depth registered to `image` (32FC1 m), published only when the cell has its depth camera. */
  depth: string;
  wrench: string;
  pose: string;
  estop: string;
  socketPose: string;
  command: string;
  commandMode: 'twist' | 'pose';
  /** sensor_msgs/JointState, published instead of `pose` when the robot runs with `jointStates`. */
  jointStates: string;
  /** The true tip pose beside joint states (tests compare the daemon's kinematics with it). */
  poseTruth: string;
}

export const SIM_ROBOT_TOPICS: SimRobotTopics = {
  image: '/camera/image_raw',
  depth: '/camera/aligned_depth_to_color/image_raw',
  wrench: '/wrist_ft/wrench',
  pose: '/ee_pose',
  estop: '/estop',
  socketPose: '/sim/socket_pose',
  command: '/insertion/cmd_twist',
  commandMode: 'twist',
  jointStates: '/joint_states',
  poseTruth: '/sim/ee_pose_truth',
};

/**
 * The simulated arm's chain from its base frame (the world: the pose frame of the cell) to the connector tip, in the
 * form of backend.ros2.kinematics: the pedestal (base body at z 0.1), Sawyer's seven URDF joints (all about z), then the
 * hand flange and the connector held tip-down (src/sim/mjcf.ts builds the MuJoCo arm from the same numbers).
 */
export function simArmChain(sim: SimBackend): KinematicChain {
  const toolLength = sim.simCell.layout.toolLength;
  return {
    base: { xyz: [0, 0, 0.1], rpy: [0, 0, 0] },
    joints: SAWYER_JOINTS.map((j) => ({ name: j.name, type: 'revolute' as const, origin: { xyz: [...j.xyz], rpy: [...j.rpy] }, axis: [0, 0, 1] })),
    // hand (xyz, rpy: a yaw) then the plug body 0.012 + toolLength along the hand's z, turned half a turn about x.
    tool: { xyz: [SAWYER_HAND.xyz[0], SAWYER_HAND.xyz[1], SAWYER_HAND.xyz[2] + 0.012 + toolLength], rpy: [Math.PI, 0, SAWYER_HAND.rpy[2]] },
  };
}

export class SimRos2Robot {
  private readonly closers: Closable[] = [];
  private readonly img: Publisher<ImageMsg> | null;
  private readonly dep: Publisher<ImageMsg> | null;
  private readonly wr: Publisher<WrenchStampedMsg>;
  private readonly pose: Publisher<PoseStampedMsg>;
  private readonly joints: Publisher<JointStateMsg> | null;
  private readonly estop: Publisher<BoolMsg>;
  private readonly socket: Publisher<PoseStampedMsg>;
  private timer: NodeJS.Timeout | null = null;
  commands = 0;
  imagesPublished = 0;
  depthPublished = 0;
  ignoredWhileEstopped = 0;

  constructor(
    transport: Ros2Transport,
    private readonly sim: SimBackend,
    private readonly o: {
      topics?: SimRobotTopics;
      controlPeriod: number;
      sensorHz: number;
      /** Publish the camera at this size (nearest-neighbour from the rendered frame), like a real 640x480 camera. */
      camera?: { width: number; height: number };
      /** Publish joint states (topics.jointStates) instead of the tip pose, and the true pose on topics.poseTruth. */
      jointStates?: boolean;
      /**
       * A camera that runs elsewhere (its own thread, src/ros2/sim-camera.ts): given every new frame (at the camera size)
       * instead of this object publishing images.
       */
      onFrame?: (img: RgbImage) => void;
    },
  ) {
    const t = o.topics ?? SIM_ROBOT_TOPICS;
    this.img = o.onFrame ? null : transport.createPublisher(t.image, 'sensor_msgs/msg/Image', QOS_SENSOR);
    this.dep = sim.sensors().depth ? transport.createPublisher(t.depth, 'sensor_msgs/msg/Image', QOS_SENSOR) : null;
    this.wr = transport.createPublisher(t.wrench, 'geometry_msgs/msg/WrenchStamped', QOS_SENSOR);
    this.pose = transport.createPublisher(o.jointStates ? t.poseTruth : t.pose, 'geometry_msgs/msg/PoseStamped', QOS_SENSOR);
    this.joints = o.jointStates ? transport.createPublisher(t.jointStates, 'sensor_msgs/msg/JointState', QOS_SENSOR) : null;
    this.estop = transport.createPublisher(t.estop, 'std_msgs/msg/Bool', QOS_LATCHED);
    this.socket = transport.createPublisher(t.socketPose, 'geometry_msgs/msg/PoseStamped', QOS_LATCHED);
    const run = (delta: Vec3): void => {
      if (this.sim.estopEngaged().engaged) {
        this.ignoredWhileEstopped++;
        return;
      }
      this.sim.command(delta);
      this.commands++;
      // Wrench and pose go out at once (a driver's state stream); the camera keeps its own rate when it has one.
      this.publishState();
      if (o.sensorHz <= 0) this.publishImage();
    };
    if (t.commandMode === 'twist') {
      this.closers.push(transport.subscribe(t.command, 'geometry_msgs/msg/TwistStamped', QOS_DEFAULT, (m) => run(deltaFromTwistStamped(m, o.controlPeriod))));
    } else {
      this.closers.push(
        transport.subscribe(t.command, 'geometry_msgs/msg/PoseStamped', QOS_DEFAULT, (m) => {
          const target = poseFromMsg(m, t.command).pos;
          const p = this.sim.observe().eePos;
          run([target[0] - p[0], target[1] - p[1], target[2] - p[2]]);
        }),
      );
    }
    this.closers.push(
      transport.createService('/sim/estop_press', 'std_srvs/srv/Trigger', () => {
        this.sim.pressEstop('sim-button');
        return { success: true, message: 'pressed' };
      }),
      transport.createService('/sim/estop_release', 'std_srvs/srv/Trigger', () => {
        this.sim.releaseEstop();
        return { success: true, message: 'released' };
      }),
    );
    this.sim.onEstop((s) => this.estop.publish({ data: s.engaged }));
    this.estop.publish({ data: this.sim.estopEngaged().engaged });
    this.publishSocket();
    this.publishSensors();
    if (o.sensorHz > 0) this.timer = setInterval(() => this.publishSensors(), 1000 / o.sensorHz);
  }

  /** The rendered frame at the camera size (resampled once per new frame). */
  private frame(): RgbImage {
    let img = this.sim.observe().image;
    if (this.o.camera) {
      // The rendered frame changes only when physics runs: resample once per new frame, not per publication.
      if (this.resampled?.from !== img) this.resampled = { from: img, to: resample(img, this.o.camera.width, this.o.camera.height) };
      img = this.resampled.to;
    }
    if (this.o.onFrame && img !== this.handedOut) {
      this.handedOut = img;
      this.o.onFrame(img);
    }
    return img;
  }

  private handedOut: RgbImage | null = null;

  private publishSocket(): void {
    this.socket.publish(poseToMsg({ pos: this.sim.observe().goal, quat: [1, 0, 0, 0] }, Date.now() / 1000, 'base'));
  }

  /** Streams the current state (the scene only changes when a command runs physics, so a repeat is the truth). */
  publishSensors(): void {
    this.publishImage();
    this.publishState();
  }

  private resampled: { from: RgbImage; to: RgbImage } | null = null;

  private publishImage(): void {
    const img = this.frame();
    this.publishDepth();
    if (!this.img) return; // the camera thread publishes
    this.img.publish(imageToMsg(img, Date.now() / 1000, 'wrist_camera'));
    this.imagesPublished++;
  }

  private resampledDepth: { from: DepthImage; to: DepthImage } | null = null;

  /** The depth image at the camera size (the same nearest-neighbour pixels as the colour frame: registered to it). */
  private publishDepth(): void {
    if (!this.dep) return;
    let d = this.sim.observe().depth;
    if (!d) return;
    if (this.o.camera) {
      if (this.resampledDepth?.from !== d) this.resampledDepth = { from: d, to: resampleDepth(d, this.o.camera.width, this.o.camera.height) };
      d = this.resampledDepth.to;
    }
    this.dep.publish(depthToMsg(d, Date.now() / 1000, 'wrist_camera'));
    this.depthPublished++;
  }

  private publishState(): void {
    const o = this.sim.observe();
    const now = Date.now() / 1000;
    this.wr.publish(wrenchToMsg(o.wrench, now, 'wrist_ft'));
    this.pose.publish(poseToMsg({ pos: o.eePos, quat: o.eeQuat }, now, 'base'));
    if (this.joints) {
      const q = this.sim.simCell.jointPositions();
      this.joints.publish({
        header: header(now, 'base'),
        name: SAWYER_JOINTS.map((j) => j.name),
        position: q.subarray(0, SAWYER_JOINTS.length),
        velocity: [],
        effort: [],
      });
    }
  }

  close(): void {
    if (this.timer) clearInterval(this.timer);
    for (const c of this.closers) c.close();
  }
}

/** Nearest-neighbour resize: a stand-in for a camera's native resolution (the daemon crops and resizes as calibrated). */
export function resample(img: RgbImage, width: number, height: number): RgbImage {
  const out = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    const sy = Math.min(img.height - 1, Math.floor((y * img.height) / height));
    for (let x = 0; x < width; x++) {
      const sx = Math.min(img.width - 1, Math.floor((x * img.width) / width));
      const s = (sy * img.width + sx) * 3;
      const d = (y * width + x) * 3;
      out[d] = img.data[s] as number;
      out[d + 1] = img.data[s + 1] as number;
      out[d + 2] = img.data[s + 2] as number;
    }
  }
  return { width, height, data: out };
}

/** The depth counterpart of `resample`: the same source pixel for each output pixel, so both stay registered. */
export function resampleDepth(d: DepthImage, width: number, height: number): DepthImage {
  const out = new Float32Array(width * height);
  for (let y = 0; y < height; y++) {
    const sy = Math.min(d.height - 1, Math.floor((y * d.height) / height));
    for (let x = 0; x < width; x++) out[y * width + x] = d.data[sy * d.width + Math.min(d.width - 1, Math.floor((x * d.width) / width))] as number;
  }
  return { width, height, data: out };
}
