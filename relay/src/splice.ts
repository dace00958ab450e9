import type { Duplex } from "node:stream";

/**
 * Joins two byte streams both ways with backpressure (pipe); either end
 * closing or failing ends both, so no half of a path stays open.
 */
export function splice(
  controller: Duplex,
  robot: Duplex,
  count: { toRobot(n: number): void; fromRobot(n: number): void },
  onEnd: () => void,
): void {
  let ended = false;
  const end = () => {
    if (ended) return;
    ended = true;
    controller.destroy();
    robot.destroy();
    onEnd();
  };
  for (const s of [controller, robot]) {
    s.on("error", end);
    s.on("close", end);
  }
  controller.on("data", (b: Buffer) => count.toRobot(b.length));
  robot.on("data", (b: Buffer) => count.fromRobot(b.length));
  controller.pipe(robot);
  robot.pipe(controller);
}
