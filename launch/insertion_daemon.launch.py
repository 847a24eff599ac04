"""ros2 launch file for the insertion daemon as a ROS 2 node.

    ros2 launch launch/insertion_daemon.launch.py config:=/abs/daemon.yaml params:=/abs/params.yaml \
        remaps:="/camera/image_raw:=/right_hand_camera/image;/ee_pose:=/robot/ee_pose"

It starts the daemon as a ROS 2 node (src/cli/ros2-daemon.ts: the daemon on the `ros2` robot backend, plus its ROS
services and topics) as a managed process. The node's topics, QoS, transport and teleop come from the parameters file
(ROS 2 params YAML, `insertion_daemon: ros__parameters:`), topic remaps from `remaps` (from:=to pairs, ';'-separated);
the daemon reads both from the environment (INSERTION_ROS2_PARAMS, INSERTION_ROS2_REMAPS; src/ros2/config.ts).
"""
import os

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, ExecuteProcess
from launch.substitutions import LaunchConfiguration

ROOT = os.path.abspath(os.path.join(os.path.dirname(os.path.realpath(__file__)), '..'))


def generate_launch_description():
    args = [
        ('config', os.path.join(ROOT, 'config', 'daemon.yaml'), 'daemon config file (YAML)'),
        ('params', os.path.join(ROOT, 'launch', 'params.yaml'), 'ROS 2 parameters of the node (topics, QoS, transport, teleop)'),
        ('calibration', os.path.join(ROOT, 'calibration'), 'directory of calibration files'),
        ('models', os.path.join(ROOT, 'models'), 'directory of ONNX models with their cards'),
        ('port', '8750', 'REST port on 127.0.0.1'),
        ('remaps', '', "topic remaps, 'from:=to' pairs separated by ';'"),
        ('ros_domain_id', os.environ.get('ROS_DOMAIN_ID', '0'), 'DDS domain (dds transport)'),
    ]
    return LaunchDescription([
        *[DeclareLaunchArgument(name, default_value=default, description=text) for name, default, text in args],
        ExecuteProcess(
            cmd=['node', '--single-threaded-gc', '--import', 'tsx', os.path.join(ROOT, 'src', 'cli', 'ros2-daemon.ts'),
                 '--config', LaunchConfiguration('config'),
                 '--calibration', LaunchConfiguration('calibration'),
                 '--models', LaunchConfiguration('models'),
                 '--port', LaunchConfiguration('port')],
            cwd=ROOT,
            name='insertion_daemon',
            output='screen',
            additional_env={
                'INSERTION_ROS2_PARAMS': LaunchConfiguration('params'),
                'INSERTION_ROS2_REMAPS': LaunchConfiguration('remaps'),
                'ROS_DOMAIN_ID': LaunchConfiguration('ros_domain_id'),
            },
            # SIGINT first: the daemon stops the arm, closes the episode and flushes its log before exiting.
            sigterm_timeout='10',
        ),
    ])
