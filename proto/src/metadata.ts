/**
 * Trailer in which the agent names its own error code (AgentErrorCode, e.g.
 * "UNTRUSTED") next to the gRPC status; the controller reads it to give hints.
 */
export const AGENT_ERROR_CODE_KEY = "ros-rollback-error-code";

/**
 * The agent's error code (in that trailer) for a refusal because the robot is
 * held (mission, operator): status FAILED_PRECONDITION like any refusal, but a
 * controller may wait for the holds to go (`deploy --wait-for-release`).
 */
export const HELD_ERROR_CODE = "HELD";
