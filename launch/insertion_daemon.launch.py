"""ros2 launch file for the insertion daemon.

    ros2 launch launch/insertion_daemon.launch.py config:=/abs/path/daemon.yaml

It starts the Node.js daemon (src/cli/daemon.ts) as a managed process. The backend it drives comes from the
config file (backend.kind). Today that is the MuJoCo cell ('sim'); the ROS 2 robot backend comes with the ROS 2
adapter issue, and this file stays the entry point.
"""
import os

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, ExecuteProcess
from launch.substitutions import LaunchConfiguration

ROOT = os.path.abspath(os.path.join(os.path.dirname(os.path.realpath(__file__)), '..'))


def generate_launch_description():
    config = LaunchConfiguration('config')
    port = LaunchConfiguration('port')
    return LaunchDescription([
        DeclareLaunchArgument('config', default_value=os.path.join(ROOT, 'config', 'daemon.yaml'),
                              description='daemon config file (YAML)'),
        DeclareLaunchArgument('port', default_value='8750', description='REST port on 127.0.0.1'),
        ExecuteProcess(
            cmd=['npx', 'tsx', os.path.join(ROOT, 'src', 'cli', 'daemon.ts'), '--config', config, '--port', port],
            cwd=ROOT,
            output='screen',
            # SIGINT first: the daemon stops the arm, closes the episode and flushes its log before exiting.
            sigterm_timeout='10',
        ),
    ])
