// Roles in the lab (issue 29): the agent enforces them, matched on the client certificates' CN.

/** CN of the operator's (controller's) certificate, and of the rogue CA's look-alike. */
export const OPERATOR_CN = "ros-rollback controller";
/** CN of the read-only certificate (`readOnlyInventory`). */
export const READER_CN = "ros-rollback reader";

/** The agent config's `access` section: the operator may do all, the reader only read. */
export const LAB_ACCESS = {
  rules: [
    { cn: OPERATOR_CN, roles: ["read", "deploy", "hold"] },
    { cn: READER_CN, roles: ["read"] },
  ],
} as const;
