"""STUB of launch.substitutions (see launch_stub/launch/__init__.py)."""


class LaunchConfiguration:
    def __init__(self, variable_name, default=None):
        self.variable_name = variable_name
        self.default = default

    def __repr__(self):
        return f'$(var {self.variable_name})'
