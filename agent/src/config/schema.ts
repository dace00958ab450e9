import { z } from "zod";
import { type AccessPolicy, accessConfigSchema } from "../access/policy.js";
import { type BootConfig, bootConfigSchema } from "../boot/config.js";
import { dataEntrySchema } from "../data/store.js";
import { type GcConfig, gcConfigSchema } from "../gc/config.js";
import { type HealthSpec, healthConfigSchema } from "../health/index.js";
import { type HoldCondition, holdsConfigSchema } from "../holds/conditions.js";
import { SUBSTITUTER_URL } from "../store/substituters.js";

/**
 * The agent's JSON config. The NixOS module writes it from its RFC 42
 * `settings` option, so every key here is a documented, typed option there.
 * Unknown keys are refused: a typo must not silently fall back to a default.
 */
const hostPort = z.string().regex(/^(\[[0-9a-fA-F:]+\]|[^:\s]+):\d{1,5}$/, "expected host:port");

export const rawConfigSchema = z
  .object({
    /** host:port to serve gRPC on; optional when dialOut is set (a robot reached only through relays). */
    listen: hostPort.optional(),
    /**
     * Relays to keep an outbound connection to (one each: several for redundancy). Controllers reach
     * the agent through them; the mTLS session runs end to end, the relay sees ciphertext only.
     */
    dialOut: z
      .array(
        z
          .object({
            /** host:port of the relay's robot port. */
            relay: hostPort,
            /** CA of the relay's server certificate (default tls.caFile). */
            caFile: z.string().min(1).optional(),
            /** Client certificate for the relay (its CN is the robot's name there; default tls.certFile). */
            certFile: z.string().min(1).optional(),
            keyFile: z.string().min(1).optional(),
          })
          .strict(),
      )
      .min(1)
      .max(8)
      .optional(),
    /** Mutual TLS material (paths; never copied into the Nix store). */
    tls: z
      .object({
        caFile: z.string().min(1),
        certFile: z.string().min(1),
        keyFile: z.string().min(1),
        /** PEM CRL of the CA, checked at every handshake; reloaded with the others when it changes. */
        crlFile: z.string().min(1).optional(),
      })
      .strict()
      .optional(),
    /** Plaintext gRPC, only for development on loopback. */
    insecure: z.boolean().optional(),
    /** Roles of client certificates (see agent/README "Access"); absent: every certificate may do everything. */
    access: accessConfigSchema.optional(),
    /** Nix public keys (`name:base64`) whose signatures make a pushed path acceptable. */
    trustedPublicKeys: z
      .array(z.string().regex(/^[^:\s]+:[A-Za-z0-9+/]{43}=$/, "expected name:base64"))
      .min(1),
    /**
     * Binary caches (http://, https://, file:///) the robot may substitute from, in order.
     * The only caches the agent ever fetches from: a controller asks it to substitute, never names a URL.
     */
    substituters: z
      .array(z.string().max(1000).regex(SUBSTITUTER_URL, "expected an http(s):// or file:/// cache URL"))
      .max(32)
      .optional(),
    /** The system profile whose generations the agent manages. */
    profile: z.string().startsWith("/").optional(),
    /** Where the deployment record lives (persisted before every side effect). */
    stateDir: z.string().startsWith("/").optional(),
    storeDir: z.string().startsWith("/").optional(),
    /** Directory holding nix-env, nix-store (default: from PATH). */
    nixBinDir: z.string().startsWith("/").optional(),
    /** Symlink to the running system. */
    currentSystemLink: z.string().startsWith("/").optional(),
    /** NixOS's switch lock; the agent refuses to start a switch while it is held. */
    switchLockFile: z.string().startsWith("/").optional(),
    /** Upper bound for one switch-to-configuration run. */
    activationTimeoutSeconds: z.number().int().positive().optional(),
    /** Roll back to the recorded previous generation when activation or health fails (a deploy may turn it off). */
    autoRollback: z.boolean().optional(),
    /** The agent's own unit: restarted after a kept deployment that changed it (restartIfChanged = false). */
    agentUnit: z.string().min(1).optional(),
    /** Roll back when the controller does not confirm in time (a deploy may turn it off). */
    magicRollback: z.boolean().optional(),
    /** Seconds a healthy deployment waits for Confirm (a deploy may choose its own). */
    confirmTimeoutSeconds: z.number().int().positive().optional(),
    /** Health checks judged after every switch (see health/README.md). */
    health: healthConfigSchema.optional(),
    /** What holds the robot against a controller's deploys (hold files, unit and topic conditions). */
    holds: holdsConfigSchema.optional(),
    /** Remove a generation that was rolled back from the profile, so it is not the boot default. */
    deleteFailedGenerations: z.boolean().optional(),
    /** Directories captured before every switch and restored by its rollback (a system may add its own). */
    data: z.array(dataEntrySchema).max(64).optional(),
    /** Snapshots of this many confirmed deployments are kept; older ones are deleted. */
    dataSnapshotsKept: z.number().int().min(0).max(100).optional(),
    /** Upper bound for the new system's migration hook (`<system>/ros-rollback/migrate`). */
    migrateTimeoutSeconds: z.number().int().positive().optional(),
    /** Free space (MiB) that must remain after the snapshots, or the deployment is refused. */
    dataReserveMiB: z.number().int().min(0).optional(),
    /** Retention and garbage collection (see agent/src/gc/config.ts). */
    gc: gcConfigSchema.optional(),
    /** systemd-boot boot counting judged by the agent (see agent/boot/README.md). */
    boot: bootConfigSchema.optional(),
    logLevel: z.enum(["trace", "debug", "info", "warn", "error", "fatal"]).optional(),
    /** auto: journald's native protocol when systemd connected us to the journal, else JSON lines on stdout. */
    logTarget: z.enum(["auto", "stdout"]).optional(),
    /** Prometheus metrics over HTTP(S) at /metrics (see agent/src/metrics). */
    metrics: z
      .object({
        enabled: z.boolean().optional(),
        /** Default loopback only; an address others can reach is the operator's choice (with tls). */
        listen: hostPort.optional(),
        tls: z
          .object({
            certFile: z.string().min(1),
            keyFile: z.string().min(1),
            /** Scrapers must present a client certificate chaining to this CA. */
            caFile: z.string().min(1).optional(),
          })
          .strict()
          .optional(),
      })
      .strict()
      .optional(),
  })
  .strict();

export type RawConfig = z.input<typeof rawConfigSchema>;

/** The config with every default filled in; what the rest of the agent sees. */
export interface DialOut {
  readonly relay: string;
  readonly caFile: string;
  readonly certFile: string;
  readonly keyFile: string;
}

export interface Config {
  /** undefined: no port (dialOut only). */
  readonly listen: string | undefined;
  /** Empty: the agent dials no relay. */
  readonly dialOut: readonly DialOut[];
  readonly tls:
    | {
        readonly caFile: string;
        readonly certFile: string;
        readonly keyFile: string;
        readonly crlFile?: string | undefined;
      }
    | undefined;
  readonly insecure: boolean;
  /** Compiled `access` section; `enforced: false` without one. */
  readonly access: AccessPolicy;
  readonly trustedPublicKeys: readonly string[];
  /** Normalised (no trailing slash); empty: the agent substitutes nothing. */
  readonly substituters: readonly string[];
  readonly profile: string;
  readonly stateDir: string;
  readonly storeDir: string;
  readonly nixBinDir: string | undefined;
  readonly currentSystemLink: string;
  readonly switchLockFile: string;
  readonly activationTimeoutSeconds: number;
  readonly autoRollback: boolean;
  readonly magicRollback: boolean;
  readonly agentUnit: string;
  readonly confirmTimeoutSeconds: number;
  readonly health: HealthSpec;
  readonly holds: { readonly dir: string; readonly conditions: readonly HoldCondition[] };
  readonly deleteFailedGenerations: boolean;
  readonly data: readonly { readonly path: string; readonly units: readonly string[] }[];
  readonly dataSnapshotsKept: number;
  readonly migrateTimeoutSeconds: number;
  readonly dataReserveMiB: number;
  readonly gc: GcConfig;
  /** counting off: deployments never reboot the robot (a BOOT ends at the boot default). */
  readonly boot: BootConfig;
  readonly logLevel: "trace" | "debug" | "info" | "warn" | "error" | "fatal";
  readonly logTarget: "auto" | "stdout";
  /** undefined: metrics are off. */
  readonly metrics:
    | {
        readonly listen: string;
        readonly tls:
          | { readonly certFile: string; readonly keyFile: string; readonly caFile: string | undefined }
          | undefined;
      }
    | undefined;
}

export const DEFAULTS = {
  profile: "/nix/var/nix/profiles/system",
  stateDir: "/var/lib/ros-rollback",
  storeDir: "/nix/store",
  currentSystemLink: "/run/current-system",
  switchLockFile: "/run/nixos/switch-to-configuration.lock",
  activationTimeoutSeconds: 600,
  autoRollback: true,
  magicRollback: true,
  agentUnit: "ros-rollback-agent.service",
  confirmTimeoutSeconds: 30,
  deleteFailedGenerations: true,
  dataSnapshotsKept: 2,
  migrateTimeoutSeconds: 300,
  dataReserveMiB: 64,
  logLevel: "info",
  logTarget: "auto",
  metricsListen: "127.0.0.1:9464",
  holdsDir: "/run/ros-rollback/holds",
} as const;
