import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { generateIdl, generateTypeTable } from '../../src/ros2/idl.ts';

const dir = resolve(import.meta.dirname, '../../native/dds');

test('the shim IDL and type table are generated from the current definitions (run scripts/gen-ros2-idl.ts)', () => {
  assert.equal(readFileSync(resolve(dir, 'ros2_types.idl'), 'utf8'), generateIdl());
  assert.equal(readFileSync(resolve(dir, 'type_table.h'), 'utf8'), generateTypeTable());
});

test('IDL uses ROS 2 module and type names; services carry the rmw_cyclonedds request header first', () => {
  const idl = generateIdl();
  assert.match(
    idl,
    /module sensor_msgs \{ module msg \{ module dds_ \{ \n@final struct Image_ \{\n {2}std_msgs::msg::dds_::Header_ header;\n {2}uint32 height;/,
  );
  assert.match(idl, /struct Trigger_Request_ \{\n {2}uint64 client_guid;\n {2}int64 sequence_number;\n {2}uint8 structure_needs_at_least_one_member;/);
  assert.match(idl, /struct Time_ \{\n {2}int32 sec;\n {2}uint32 nanosec;/);
  assert.ok(!/ESTOP_BUTTON/.test(idl), 'constants are not members');
});
