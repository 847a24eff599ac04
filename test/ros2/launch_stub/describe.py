"""Loads a Python launch file with the STUB `launch` package and prints its description as JSON."""
import importlib.util
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import launch  # noqa: E402  (the stub, first on the path)

assert getattr(launch, 'STUB', False), 'expected the launch STUB, found a real launch package'
spec = importlib.util.spec_from_file_location('launch_file', sys.argv[1])
mod = importlib.util.module_from_spec(spec)
spec.loader.exec_module(mod)
ld = mod.generate_launch_description()
assert isinstance(ld, launch.LaunchDescription)


def plain(v):
    if isinstance(v, (list, tuple)):
        return [plain(x) for x in v]
    if isinstance(v, dict):
        return {k: plain(x) for k, x in v.items()}
    if isinstance(v, (str, int, float, bool)) or v is None:
        return v
    return repr(v)


print(json.dumps([{'type': type(e).__name__, 'args': plain(e.args), 'kwargs': plain(e.kwargs)} for e in ld.entities]))
