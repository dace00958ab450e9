#!/usr/bin/env bash
# Installs the minimal ROS 1 (Debian bookworm) that the ROS health-check tests run against:
# roscore, rosout, rospy, rostopic, std_msgs and geometry_msgs (for a non-std type). Idempotent and quick when all is
# there. Run as root. The agent itself needs none of this: it ships nothing from ROS.
set -euo pipefail

packages=(python3-roslaunch python3-rosmaster python3-rospy python3-rostopic ros-std-msgs rosout python3-geometry-msgs)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "setup-ros: installing ${missing[*]}" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
