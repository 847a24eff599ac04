/** Writes native/dds/ros2_types.idl and native/dds/type_table.h from the message definitions (src/ros2/idl.ts). */
import { writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { generateIdl, generateTypeTable } from '../src/ros2/idl.ts';

const dir = resolve(import.meta.dirname, '../native/dds');
writeFileSync(resolve(dir, 'ros2_types.idl'), generateIdl());
writeFileSync(resolve(dir, 'type_table.h'), generateTypeTable());
console.log(`wrote ${dir}/ros2_types.idl and type_table.h`);
