/**
 * The project as a ROS 2 package: Debian's ament_cmake configures it (ament_package parses and checks package.xml),
 * and the install rules put the `ros2 run` executable and the project where ROS expects them. Configure only: the
 * install would copy node_modules. Skips without cmake or ament_cmake (scripts/install-system-deps.sh installs them).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const root = resolve(import.meta.dirname, '../..');
const hasCmake = spawnSync('cmake', ['--version']).status === 0;
const skip = !hasCmake
  ? 'cmake not installed'
  : !existsSync('/usr/share/ament_cmake/cmake/ament_cmakeConfig.cmake')
    ? 'ament_cmake not installed (apt-get install ament-cmake)'
    : !existsSync(join(root, 'node_modules'))
      ? 'no node_modules'
      : false;

test('ament_cmake configures the package; install rules place the ros2 run executable and the project', { skip }, () => {
  const build = mkdtempSync(join(tmpdir(), 'ament-'));
  try {
    // Debian's ament_package is a python3 module of the system interpreter (not a pyenv one that may come first).
    execFileSync('cmake', ['-S', root, '-B', build, `-DCMAKE_INSTALL_PREFIX=${join(build, 'install')}`, '-DPython3_EXECUTABLE=/usr/bin/python3'], {
      stdio: 'pipe',
    });
    const rules = readFileSync(join(build, 'cmake_install.cmake'), 'utf8');
    assert.match(rules, /lib\/insertion_daemon/);
    assert.match(rules, /share\/insertion_daemon/);
    assert.match(rules, /bin\/insertion_daemon/);
    assert.ok(existsSync(join(build, 'ament_cmake_core', 'insertion_daemonConfig.cmake')), 'ament_package ran');
  } finally {
    rmSync(build, { recursive: true, force: true });
  }
});

test('bin/insertion_daemon (the ros2 run executable) is a valid bash script that starts src/cli/ros2-daemon.ts', () => {
  execFileSync('bash', ['-n', join(root, 'bin/insertion_daemon')]);
  assert.match(readFileSync(join(root, 'bin/insertion_daemon'), 'utf8'), /exec node --single-threaded-gc --import tsx src\/cli\/ros2-daemon\.ts "\$@"/);
});
