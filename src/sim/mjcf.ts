/**
 * MJCF for the insertion cell, generated from a connector definition:
 * table, socket (floor + face plate decomposed around the holes), a Sawyer-like 7-DoF arm with
 * force-limited joint position servos, and the plug rigidly held at the hand with a wrist F/T sensor.
 *
 * Frames: world = robot base, z up. The plug body's origin is the connector tip (bottom of the pins,
 * connector reference centre); its z axis points up the tool, so "tip pointing down" is the identity
 * orientation in the world.
 */
import type { Vec3 } from '../core/types.ts';
import { holePolygons, partPolygon, type ConnectorDef, type PartDef } from './connectors.ts';
import { bbox, decomposePlate, isRectangle, type Vec2 } from './geometry.ts';
import { SAWYER_HAND, SAWYER_JOINTS, rpyToQuat } from './sawyer.ts';

export interface CellLayout {
  /** Socket reference centre on the table (x, y) and table top z. */
  socketXY: [number, number];
  tableTop: number;
  /** Thickness of the socket's floor block under the face plate. */
  floor: number;
  /** z of the socket face (top of the plate). */
  socketTop: number;
  /** Half extents of the socket block in x, y. */
  socketHalf: [number, number];
  /** Pins stick out this much more than the insertion depth, so the housing never touches the face. */
  standoff: number;
  /** Pin length = depth + standoff. */
  pinLength: number;
  /** Adapter (gripper) length between the hand flange and the housing. */
  adapter: number;
  /** Distance from the F/T site (flange) down to the tip. */
  toolLength: number;
}

/** Joint servo gains and limits (per joint, j0..j6). */
export const SERVO = {
  kp: [1500, 1500, 750, 750, 200, 200, 100],
  /** Rotor inertia reflected to the joint: keeps the wrist stable at 1 ms and makes the arm feel like a real one. */
  armature: [0.4, 0.4, 0.15, 0.15, 0.04, 0.04, 0.02],
  /** Damping ratio target for the servo's velocity gain. */
  zeta: 1.0,
};

/**
 * Collision bits. The housing is 4; pin i has a bit of its own, 1 << (3 + i) (a connector has at most 16 parts), so the
 * cell's contact filter (contact-filter.ts) can switch a socket piece off for one pin and keep it for another.
 */
export const HOUSING_BIT = 4;
export const pinBit = (i: number): number => 1 << (3 + i);
const pinMask = (def: ConnectorDef): number => def.parts.reduce((m, _, i) => m | pinBit(i), 0);

/** A socket collision geom as the prism it is: a convex outline (socket frame, m) extruded over z. */
export interface SocketPrism {
  geom: string;
  outline: Vec2[];
  z: [number, number];
}

/**
 * A geom that moves with the plug, as a capsule that holds it: every point lies within `radius` of the segment from
 * `from` to `to` (the plug body's frame; the housing's body has the same frame).
 */
export interface PlugCapsule {
  geom: string;
  /** Its collision bit. */
  bit: number;
  from: Vec3;
  to: Vec3;
  radius: number;
  /**
   * The geom exactly, as a prism along the same segment (which is parallel to the plug's z): its convex outline in the
   * plug's xy, or null for a circle of `radius` round the segment (a cylinder).
   */
  outline: Vec2[] | null;
}

/** What the contact filter needs to know of the colliding geometry, in the frames the MJCF places it in. */
export interface CellContactGeometry {
  /** The socket body's origin in the world; its frame is not rotated. */
  socketOrigin: Vec3;
  /** The pins and the housing. */
  movers: PlugCapsule[];
  /** Everything they collide with, in the socket's frame: the pieces, the floor, the rim, and the table as a slab. */
  prisms: SocketPrism[];
  /** Per arm joint: a bound on the distance from its origin, on its axis, to any point of a mover, at any pose (m). */
  reach: number[];
  /** The farthest any point of a mover lies from the plug body's origin (m). */
  plugRadius: number;
}

const f = (x: number): string => {
  const r = Math.round(x * 1e7) / 1e7;
  return Object.is(r, -0) ? '0' : String(r);
};
const v = (a: readonly number[]): string => a.map(f).join(' ');

export function cellLayout(def: ConnectorDef): CellLayout {
  const holes = holePolygons(def);
  const b = bbox(holes.flat());
  // The face extends 32 mm beyond the holes: scenario II starts (<= 20 mm off) land on the face, not the table.
  const half: [number, number] = [Math.max(Math.abs(b.min[0]), Math.abs(b.max[0])) + 0.032, Math.max(Math.abs(b.min[1]), Math.abs(b.max[1])) + 0.032];
  const floor = 0.01;
  const standoff = 0.004;
  const pinLength = def.depth + standoff;
  const adapter = 0.03;
  return {
    socketXY: [0.62, 0.16],
    tableTop: 0,
    floor,
    socketTop: floor + def.depth,
    socketHalf: half,
    standoff,
    pinLength,
    adapter,
    toolLength: pinLength + def.housing.height + adapter,
  };
}

function rgba(c: readonly number[], a = 1): string {
  return `${v(c)} ${a}`;
}

/** Geometry of the plug (in the plug body frame) and its mesh assets. */
/**
 * One connector part as a geom extruded from z[0] to z[1]: a cylinder or box grown by `grow` on each side, or a mesh of
 * its outline (`outline`, added to `assets`). The plug's pins and the socket's hole markers are the same shapes.
 */
function partGeom(p: PartDef, name: string, grow: number, z: [number, number], attrs: string, assets: string[], outline: () => readonly Vec2[]): string {
  const [z0, z1] = z;
  const pos = v([p.center[0], p.center[1], (z0 + z1) / 2]);
  const h = f((z1 - z0) / 2);
  if (p.shape === 'circle') return `<geom name="${name}" type="cylinder" size="${f(p.radius + grow)} ${h}" pos="${pos}" ${attrs}/>`;
  if (p.shape === 'rect') {
    const q = [Math.cos(p.rotation / 2), 0, 0, Math.sin(p.rotation / 2)];
    return `<geom name="${name}" type="box" size="${f(p.size[0] / 2 + grow)} ${f(p.size[1] / 2 + grow)} ${h}" pos="${pos}" quat="${v(q)}" ${attrs}/>`;
  }
  const poly = outline();
  const verts = poly.flatMap((q) => [q[0], q[1], z0]).concat(poly.flatMap((q) => [q[0], q[1], z1]));
  assets.push(`<mesh name="m_${name}" vertex="${v(verts)}"/>`);
  return `<geom name="${name}" type="mesh" mesh="m_${name}" ${attrs}/>`;
}

function plugGeoms(def: ConnectorDef, L: CellLayout, assets: string[], oneBody: boolean): string[] {
  const out: string[] = [];
  const col = rgba(def.plug.color);
  const pl = L.pinLength;
  def.parts.forEach((p, i) =>
    out.push(partGeom(p, `plug_pin${i}`, 0, [0, pl], `rgba="${col}" class="plug" contype="${pinBit(i)}"`, assets, () => partPolygon(p))),
  );
  const [hx, hy] = [def.housing.size[0] / 2, def.housing.size[1] / 2];
  const hh = def.housing.height / 2;
  const housing = `type="box" size="${f(hx)} ${f(hy)} ${f(hh)}" pos="0 0 ${f(pl + hh)}"`;
  if (oneBody) {
    out.push(`<geom name="plug_housing" ${housing} rgba="${col}" class="housing"/>`);
    out.push(...gripGeoms(def, L));
    return out;
  }
  // The housing collides as a body of its own, welded to the plug: the plug body's bounding volume tree then holds
  // the pins only, so the midphase no longer walks the socket's face pieces for the housing (which only the rim
  // accepts). Its mass stays with the plug body through an invisible, non-colliding copy in the old geom's place, so
  // the plug's mass, centre and inertia, and with them the trajectories, are bitwise those of one body.
  out.push(`<geom name="plug_housing_mass" ${housing} rgba="0 0 0 0" contype="0" conaffinity="0" density="1500" group="3"/>`);
  out.push(`<body name="plug_housing"><geom name="plug_housing" ${housing} rgba="${col}" class="housing" density="0"/></body>`);
  // The gripper stays in the pins' body: visual only, it is in no bounding volume and costs no body of its own.
  out.push(...gripGeoms(def, L));
  return out;
}

/** The gripper: an adapter block and two fingers clamping the housing (visual only), in the plug's frame. */
function gripGeoms(def: ConnectorDef, L: CellLayout): string[] {
  const [hx, hh, pl] = [def.housing.size[0] / 2, def.housing.height / 2, L.pinLength];
  const az = pl + def.housing.height + L.adapter / 2;
  const grip = [
    `<geom name="grip_adapter" type="box" size="${f(Math.min(hx, 0.02) + 0.004)} 0.012 ${f(L.adapter / 2)}" pos="0 0 ${f(az)}" rgba="0.25 0.25 0.28 1" class="visual"/>`,
  ];
  for (const s of [-1, 1]) {
    grip.push(
      `<geom name="grip_finger${s > 0 ? 'r' : 'l'}" type="box" size="0.004 0.01 ${f(hh + L.adapter / 2)}" pos="${v([s * (hx + 0.004), 0, pl + hh + L.adapter / 2])}" rgba="0.3 0.3 0.33 1" class="visual"/>`,
    );
  }
  return grip;
}

/** Socket geoms (in the socket body frame: origin at the table top under the socket centre); `prisms` gets the colliding ones. */
function socketGeoms(def: ConnectorDef, L: CellLayout, assets: string[], prisms: SocketPrism[]): string[] {
  const out: string[] = [];
  const col = rgba(def.socket.color);
  const [hx, hy] = L.socketHalf;
  const holes = holePolygons(def);
  const rect = (geom: string, x: [number, number], y: [number, number], z: [number, number]): void => {
    prisms.push({
      geom,
      outline: [
        [x[0], y[0]],
        [x[1], y[0]],
        [x[1], y[1]],
        [x[0], y[1]],
      ],
      z,
    });
  };
  // The floor only needs to span the holes (the plate pieces stand on the table): fewer large geoms for the rays to test.
  const hb = bbox(holes.flat());
  const fx: [number, number] = [hb.min[0] - 0.001, hb.max[0] + 0.001];
  const fy: [number, number] = [hb.min[1] - 0.001, hb.max[1] + 0.001];
  out.push(
    `<geom name="sock_floor" type="box" size="${f((fx[1] - fx[0]) / 2)} ${f((fy[1] - fy[0]) / 2)} ${f(L.floor / 2)}" pos="${v([(fx[0] + fx[1]) / 2, (fy[0] + fy[1]) / 2, L.floor / 2])}" rgba="${col}" class="envc"/>`,
  );
  rect('sock_floor', fx, fy, [0, L.floor]);
  const z0 = 0;
  const hz = L.socketTop / 2;
  const pieces = decomposePlate(holes, -hx, hx, -hy, hy);
  pieces.forEach((t, i) => {
    const name = `sock_p${i}`;
    if (isRectangle(t)) {
      const cx = (t.xl0 + t.xr0) / 2;
      const cy = (t.y0 + t.y1) / 2;
      out.push(
        `<geom name="${name}" type="box" size="${f((t.xr0 - t.xl0) / 2)} ${f((t.y1 - t.y0) / 2)} ${f(hz)}" pos="${v([cx, cy, z0 + hz])}" rgba="${col}" class="envc"/>`,
      );
      rect(name, [t.xl0, t.xr0], [t.y0, t.y1], [z0, L.socketTop]);
    } else {
      const quad: Vec2[] = [
        [t.xl0, t.y0],
        [t.xr0, t.y0],
        [t.xr1, t.y1],
        [t.xl1, t.y1],
      ];
      // Degenerate ends (a vertex where a hole touches the slab edge) collapse two corners: drop duplicates.
      const uniq = quad.filter((p, k) => {
        const q = quad[(k + 1) % 4]!;
        return Math.hypot(p[0] - q[0], p[1] - q[1]) > 1e-9;
      });
      const verts = uniq.flatMap((p) => [p[0], p[1], z0]).concat(uniq.flatMap((p) => [p[0], p[1], L.socketTop]));
      assets.push(`<mesh name="m_${name}" vertex="${v(verts)}"/>`);
      out.push(`<geom name="${name}" type="mesh" mesh="m_${name}" rgba="${col}" class="envc"/>`);
      prisms.push({ geom: name, outline: uniq, z: [z0, L.socketTop] });
    }
  });
  // Rim: a 2 mm band round the block's edge, so the housing cannot sink into the block beside it.
  const rw = 0.001;
  for (const [sx, sy, px, py] of [
    [hx, rw, 0, hy - rw],
    [hx, rw, 0, -hy + rw],
    [rw, hy, hx - rw, 0],
    [rw, hy, -hx + rw, 0],
  ] as const) {
    const name = `sock_rim_${out.length}`;
    out.push(
      `<geom name="${name}" type="box" size="${f(sx)} ${f(sy)} ${f(L.socketTop / 2)}" pos="${v([px, py, L.socketTop / 2])}" rgba="${col}" class="rim"/>`,
    );
    rect(name, [px - sx, px + sx], [py - sy, py + sy], [0, L.socketTop]);
  }
  return out.concat(socketVisualGeoms(def, L, assets));
}

/**
 * What the camera sees of the socket (group 2): one block and a dark marker per hole on its face. The exact
 * collision pieces (group 5) would cost the ray caster dozens of mesh tests per pixel for round holes.
 */
function socketVisualGeoms(def: ConnectorDef, L: CellLayout, assets: string[]): string[] {
  const out: string[] = [];
  const col = rgba(def.socket.color);
  const [hx, hy] = L.socketHalf;
  const holes = holePolygons(def);
  const dark = rgba(def.socket.color.map((c) => 0.3 * c));
  out.push(`<geom name="sock_block" type="box" size="${f(hx)} ${f(hy)} ${f(L.socketTop / 2)}" pos="0 0 ${f(L.socketTop / 2)}" rgba="${col}" class="sockvis"/>`);
  const mz = L.socketTop + 0.0001;
  // Thin dark markers of the holes (grown by half the clearance), 0.1 mm either side of the face.
  def.parts.forEach((p, i) =>
    out.push(partGeom(p, `hole_${i}`, def.clearance / 2, [mz - 0.0001, mz + 0.0001], `rgba="${dark}" class="sockvis"`, assets, () => holes[i]!)),
  );
  return out;
}

/** Capsule visual for a link: from the link origin towards the next joint origin. */
function linkCapsule(name: string, to: Vec3, radius: number): string {
  const len = Math.hypot(to[0], to[1], to[2]);
  if (len < 1e-6) return `<geom name="${name}" type="sphere" size="${f(radius)}" class="arm" rgba="0.75 0.12 0.12 1"/>`;
  return `<geom name="${name}" type="capsule" fromto="0 0 0 ${v(to)}" size="${f(radius)}" class="arm" rgba="0.75 0.12 0.12 1"/>`;
}

export interface CellModelOptions {
  timestep: number;
  /**
   * The plug as one body (pins, housing and gripper), as the ray caster must see it; default false: the housing
   * collides as a body of its own, welded to the pins' body (what the physics steps). Same kinematics and dynamics
   * either way; see plugGeoms, and SimCell's RayModel for why the camera needs the one-body plug.
   */
  plugOneBody?: boolean;
  /**
   * The arm's visual geoms (link capsules and flange; default true). They never collide and weigh nothing, but MuJoCo's
   * broadphase fits its sweep frame to every geom of a moving body (a covariance and its Jacobi eigen-solve) in every
   * physics step: without them the step is cheaper, and contacts, trajectories and sensors are bitwise the same
   * (test/sim/view-rays.test.ts). Only a camera that sees the arm needs them.
   */
  armVisuals?: boolean;
}

const TABLE = '<geom name="table" type="plane" size="0.5 0.6 0.01" pos="0.62 0.1 0" rgba="0.6 0.5 0.4 1" class="env" group="0"/>';

/**
 * A second, static model holding only what the camera sees of the world (table, socket block, hole markers),
 * at the same coordinates. mj_multiRay loops over every geom of a model for every ray, so casting the world
 * against this 3-15 geom model instead of the full cell (arm, plug and hidden collision pieces) is much cheaper.
 */
export function buildViewXml(def: ConnectorDef): string {
  const L = cellLayout(def);
  const assets: string[] = [];
  const vis = socketVisualGeoms(def, L, assets);
  const [sx, sy] = L.socketXY;
  return mjcfDocument({
    model: `view_${def.name}`,
    head: '<size memory="64K"/>',
    defaults: [
      `<!-- The socket's geoms get collision bits although this model is never stepped: MuJoCo builds a body's bounding
         volume hierarchy only over colliding geoms, and mj_multiRay culls geoms by their bounding angles only in bodies
         that have one. Without it every ray tested every hole marker (dt12: 12 ray_box tests per ray). -->`,
      '<default class="env"><geom contype="0" conaffinity="0" group="0"/></default>',
      '<default class="sockvis"><geom contype="1" conaffinity="1" density="0" group="2"/></default>',
    ],
    assets,
    world: `<body name="socket" pos="${v([sx, sy, L.tableTop])}">
      ${vis.join('\n      ')}
    </body>`,
  });
}

/**
 * An MJCF document as both models write it (the camera's view model and the physics cell): the compiler settings,
 * `head` (option, size), the defaults, the meshes, the world standing on the table, then `tail` (actuators, sensors).
 */
function mjcfDocument(d: { model: string; head: string; defaults: readonly string[]; assets: readonly string[]; world: string; tail?: string }): string {
  return `<mujoco model="${d.model}">
  <compiler angle="radian" autolimits="true"/>
  ${d.head}
  <default>
    ${d.defaults.join('\n    ')}
  </default>
  <asset>
    ${d.assets.join('\n    ')}
  </asset>
  <worldbody>
    ${TABLE}
    ${d.world}
  </worldbody>
${d.tail ?? ''}</mujoco>
`;
}

export function buildCellXml(def: ConnectorDef, opt: CellModelOptions): { xml: string; layout: CellLayout; contact: CellContactGeometry } {
  const L = cellLayout(def);
  const assets: string[] = [];
  const prisms: SocketPrism[] = [];
  const sock = socketGeoms(def, L, assets, prisms);
  const plug = plugGeoms(def, L, assets, opt.plugOneBody ?? false);
  const radii = [0.07, 0.06, 0.055, 0.05, 0.045, 0.04, 0.035];
  const arm = opt.armVisuals ?? true;

  // Kinematic chain: base -> l0 (j0) -> ... -> l6 (j6) -> hand -> plug (welded).
  let chain = '';
  let close = '';
  SAWYER_JOINTS.forEach((j, i) => {
    const next = SAWYER_JOINTS[i + 1];
    const to: Vec3 = next ? next.xyz : SAWYER_HAND.xyz;
    chain += `<body name="l${i}" pos="${v(j.xyz)}" quat="${v(rpyToQuat(j.rpy))}" gravcomp="1">
  <joint name="j${i}" axis="0 0 1" range="${v(j.range)}" armature="${f(SERVO.armature[i]!)}" damping="0.5"/>
  <inertial pos="${v(j.com)}" mass="${f(j.mass)}" diaginertia="${v(j.inertia)}"/>
  ${arm ? linkCapsule(`arm_l${i}`, to, radii[i]!) : ''}
`;
    close = `</body>\n` + close;
  });
  const plugZ = 0.012 + L.toolLength; // the flange, then the tool
  // Hand: flange at right_hand; the plug body hangs below it with its z axis flipped (tool points along hand +z).
  const hand = `<body name="hand" pos="${v(SAWYER_HAND.xyz)}" quat="${v(rpyToQuat(SAWYER_HAND.rpy))}" gravcomp="1">
  <inertial pos="0 0 0.01" mass="0.2" diaginertia="1e-4 1e-4 1e-4"/>
  ${arm ? '<geom name="arm_flange" type="cylinder" size="0.035 0.006" pos="0 0 0.006" class="arm" rgba="0.2 0.2 0.2 1"/>' : ''}
  <body name="plug" pos="0 0 ${f(plugZ)}" quat="0 1 0 0" gravcomp="1">
    <site name="tip" pos="0 0 0" size="0.001"/>
    <site name="ft" pos="0 0 ${f(L.toolLength)}" size="0.002"/>
    ${plug.join('\n    ')}
  </body>
</body>
`;

  const actuators = SAWYER_JOINTS.map((j, i) => {
    const kp = SERVO.kp[i]!;
    return `<position name="a${i}" joint="j${i}" kp="${f(kp)}" dampratio="1" forcerange="${f(-j.effort)} ${f(j.effort)}"/>`;
  }).join('\n    ');

  const [sx, sy] = L.socketXY;
  const xml = mjcfDocument({
    model: `insertion_cell_${def.name}`,
    head: `<option timestep="${f(opt.timestep)}" integrator="implicitfast" cone="elliptic" impratio="10"/>
  <size memory="1M"/>`,
    defaults: [
      '<geom solref="0.004 1" solimp="0.95 0.99 0.0005" friction="0.3 0.005 0.0001"/>',
      '<default class="visual"><geom contype="0" conaffinity="0" density="0" group="4"/></default>',
      '<default class="arm"><geom contype="0" conaffinity="0" density="0" group="3"/></default>',
      `<!-- Collision bits: each pin has a bit of its own (pinBit), the housing 4. The face pieces and hole floors
         accept only pins, the block's rim and the table accept both. The housing never tests the many face pieces:
         the pins reach the face first, and only near the block's edge could the housing touch it (the rim). -->`,
      `<default class="env"><geom contype="0" conaffinity="${HOUSING_BIT | pinMask(def)}" condim="3" group="2"/></default>`,
      `<default class="envc"><geom contype="0" conaffinity="${pinMask(def)}" condim="3" group="5"/></default>`,
      `<default class="rim"><geom contype="0" conaffinity="${HOUSING_BIT | pinMask(def)}" condim="3" group="5"/></default>`,
      '<default class="sockvis"><geom contype="0" conaffinity="0" density="0" group="2"/></default>',
      '<!-- Each pin sets its own contype (pinBit). -->',
      '<default class="plug"><geom contype="0" conaffinity="0" condim="3" density="1500" group="1"/></default>',
      `<default class="housing"><geom contype="${HOUSING_BIT}" conaffinity="0" condim="3" density="1500" group="1"/></default>`,
    ],
    assets,
    world: `<geom name="arm_pedestal" type="cylinder" size="0.09 0.05" pos="0 0 0.05" rgba="0.2 0.2 0.22 1" class="arm"/>
    <body name="socket" pos="${v([sx, sy, L.tableTop])}">
      ${sock.join('\n      ')}
    </body>
    <body name="base" pos="0 0 0.1">
      ${chain}${hand}${close}
    </body>`,
    tail: `  <actuator>
    ${actuators}
  </actuator>
  <sensor>
    <force name="ft_force" site="ft"/>
    <torque name="ft_torque" site="ft"/>
  </sensor>
`,
  });
  const movers: PlugCapsule[] = def.parts.map((p, i) => ({
    geom: `plug_pin${i}`,
    bit: pinBit(i),
    from: [p.center[0], p.center[1], 0],
    to: [p.center[0], p.center[1], L.pinLength],
    radius: p.shape === 'circle' ? p.radius : Math.max(...partPolygon(p).map((q) => Math.hypot(q[0] - p.center[0], q[1] - p.center[1]))),
    outline: p.shape === 'circle' ? null : partPolygon(p),
  }));
  const top = L.pinLength + def.housing.height;
  const [hx, hy] = [def.housing.size[0] / 2, def.housing.size[1] / 2];
  const housing: Vec2[] = [
    [-hx, -hy],
    [hx, -hy],
    [hx, hy],
    [-hx, hy],
  ];
  movers.push({ geom: 'plug_housing', bit: HOUSING_BIT, from: [0, 0, L.pinLength], to: [0, 0, top], radius: Math.hypot(hx, hy), outline: housing });
  // MuJoCo's planes collide as half-spaces: the table is everything below its top.
  const far = 100;
  prisms.push({
    geom: 'table',
    outline: [
      [-far, -far],
      [far, -far],
      [far, far],
      [-far, far],
    ],
    z: [-far, -L.tableTop],
  });
  // Triangle inequality down the chain: joint k's origin, the later joints' origins, the hand, the plug, its farthest point.
  const norm = (a: readonly number[]): number => Math.hypot(...a);
  const plugRadius = Math.max(...movers.map((m) => Math.hypot(Math.hypot(m.from[0], m.from[1]) + m.radius, m.to[2])));
  const reach = SAWYER_JOINTS.map((_, k) => SAWYER_JOINTS.slice(k + 1).reduce((r, j) => r + norm(j.xyz), norm(SAWYER_HAND.xyz) + plugZ + plugRadius));
  return { xml, layout: L, contact: { socketOrigin: [sx, sy, L.tableTop], movers, prisms, reach, plugRadius } };
}
