#!/bin/sh
# ros-rollback-boot-verdict.service: gates boot-complete.target (and so systemd-bless-boot) on the
# agent's verdict for THIS boot. Only a counted boot (its loader entry has tries left) pulls
# boot-complete.target in, so an ordinary boot never waits here.
#   usage: boot-verdict.sh WATCHDOG_SECONDS [RUN_DIR]   (RUN_DIR default /run/ros-rollback/boot)
# The agent writes RUN_DIR/judging when it takes this boot's judgement up, and RUN_DIR/verdict
# ("good" or "bad") when it is done. /run is empty after every boot, so nothing is stale.
#   good          → exit 0: boot-complete.target is reached and the entry is blessed.
#   bad           → exit 1: boot-complete.target fails; nothing blesses the entry (the agent
#                   marks it bad and returns to the previous generation itself).
#   no judging within WATCHDOG_SECONDS → reboot now: a boot that never reaches the agent is a
#                   failed try (the loader counted it down; nothing blessed it).
set -u
PATH=/run/current-system/sw/bin:/usr/bin:/bin:/usr/sbin:/sbin
export PATH
watchdog=${1:?usage: boot-verdict.sh WATCHDOG_SECONDS [RUN_DIR]}
dir=${2:-/run/ros-rollback/boot}
case "$watchdog" in '' | *[!0-9]*)
  echo "boot-verdict: WATCHDOG_SECONDS must be a whole number, got: $(printf %.40s "$watchdog")" >&2
  exit 2
  ;;
esac

waited=0
while [ ! -e "$dir/judging" ] && [ ! -e "$dir/verdict" ]; do
  if [ "$waited" -ge "$watchdog" ]; then
    echo "boot-verdict: the agent did not take up this boot within $watchdog s; rebooting (a failed try)" >&2
    systemctl reboot --force
    exit 1
  fi
  sleep 1
  waited=$((waited + 1))
done
echo "boot-verdict: the agent is judging this boot" >&2
while [ ! -e "$dir/verdict" ]; do sleep 1; done
verdict=$(head -c 16 "$dir/verdict")
echo "boot-verdict: $verdict" >&2
[ "$verdict" = good ]
