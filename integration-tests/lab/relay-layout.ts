// Where the lab relay lives: its state directory and ports (robots dial 10.231.K.1:ROBOT_PORT).
import { join } from "node:path";
import { STATE_DIR } from "./config.js";

export const RELAY_DIR = join(STATE_DIR, "relay");
export const RELAY_ROBOT_PORT = 8232;
export const RELAY_CONTROLLER_PORT = 8233;
export const RELAY_METRICS_PORT = 8234;
