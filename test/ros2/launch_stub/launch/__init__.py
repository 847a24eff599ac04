"""STUB of ROS 2's `launch` package, for tests on a machine without ROS 2: it only records what a launch file
describes (actions and their arguments) so the test can check it. It is not the launch system."""
STUB = True


class LaunchDescription:
    def __init__(self, entities=None):
        self.entities = list(entities or [])

    def add_action(self, action):
        self.entities.append(action)
