"""STUB of launch.actions: records constructor arguments (see launch_stub/launch/__init__.py)."""


class _Recorded:
    def __init__(self, *args, **kwargs):
        self.args = args
        self.kwargs = kwargs


class DeclareLaunchArgument(_Recorded):
    def __init__(self, name, default_value=None, description='', **kwargs):
        super().__init__(name, default_value=default_value, description=description, **kwargs)
        self.name = name


class ExecuteProcess(_Recorded):
    _allowed = {'cmd', 'cwd', 'name', 'output', 'additional_env', 'env', 'shell', 'sigterm_timeout', 'sigkill_timeout',
                'emulate_tty', 'respawn', 'respawn_delay', 'prefix', 'on_exit', 'log_cmd', 'cached_output'}

    def __init__(self, *, cmd, **kwargs):
        unknown = set(kwargs) - self._allowed
        if unknown:
            raise TypeError(f'ExecuteProcess() got unexpected keyword arguments {sorted(unknown)}')
        super().__init__(cmd=cmd, **kwargs)
