import { test } from 'node:test';
import assert from 'node:assert/strict';
import { findConnector, loadConnectors } from '../../src/sim/connectors.ts';
import { buildCellXml } from '../../src/sim/mjcf.ts';
import { compileXml, mujoco } from '../../src/sim/mujoco.ts';

// The midphase walks a body's bounding volume tree of colliding geoms against the socket's. With the housing in the
// pins' body, every pin-to-socket walk also visited the housing's leaf against the face pieces it can never touch.
test("the pins' body holds no other colliding geom; the housing is welded to it, gravity-compensated, and still collides", async () => {
  const mj = await mujoco();
  for (const name of ['roundkey', 'dt12']) {
    const model = compileXml(mj, buildCellXml(findConnector(loadConnectors(), name), { timestep: 0.001 }).xml);
    try {
      const id = (kind: 'GEOM' | 'BODY', n: string): number => mj.mj_name2id(model, mj.mjtObj[`mjOBJ_${kind}`].value, n);
      const bodyOf = (g: number): number => (model.geom_bodyid as Int32Array)[g]!;
      const plug = id('BODY', 'plug');
      const housing = id('GEOM', 'plug_housing');
      assert.ok(plug >= 0 && housing >= 0);
      const contype = model.geom_contype as Int32Array;
      const conaffinity = model.geom_conaffinity as Int32Array;
      for (let g = 0; g < model.ngeom; g++) {
        if (bodyOf(g) !== plug || (contype[g] === 0 && conaffinity[g] === 0)) continue;
        const gname = mj.mj_id2name(model, mj.mjtObj.mjOBJ_GEOM.value, g) ?? '';
        assert.match(gname, /^plug_pin\d+$/, `${name}: colliding geom ${gname} in the pins' body`);
      }
      const hb = bodyOf(housing);
      assert.notEqual(hb, plug);
      assert.equal((model.body_parentid as Int32Array)[hb], plug, `${name}: the housing hangs from the plug`);
      assert.equal((model.body_jntnum as Int32Array)[hb], 0, `${name}: welded, no joint`);
      assert.equal((model.body_weldid as Int32Array)[hb], (model.body_weldid as Int32Array)[plug]);
      assert.equal((model.body_gravcomp as Float64Array)[hb], 1, `${name}: gravity-compensated like the rest of the arm`);
      assert.equal(contype[housing], 4, `${name}: the housing still collides with the rim and the table`);
    } finally {
      model.delete();
    }
  }
});
