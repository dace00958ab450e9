/**
 * Trailer in which the agent names its own error code (AgentErrorCode, e.g.
 * "UNTRUSTED") next to the gRPC status; the controller reads it to give hints.
 */
export const AGENT_ERROR_CODE_KEY = "ros-rollback-error-code";
