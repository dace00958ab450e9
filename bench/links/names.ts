export const LINKS = ["veth", "20mbit", "rtt50"] as const;
export type LinkName = (typeof LINKS)[number];
