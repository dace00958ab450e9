/** The relay's own counters, exposed in Prometheus text format at /metrics. */
export class RelayMetrics {
  connected = 0;
  streamsOpen = 0;
  streamsTotal = 0;
  bytesToRobots = 0;
  bytesFromRobots = 0;
  robotConnects = 0;
  replaced = 0;
  readonly refusals = new Map<string, number>();
  /** Scrapes of /robots/NAME/metrics by the HTTP status the relay answered. */
  readonly scrapes = new Map<number, number>();

  scraped(code: number): void {
    this.scrapes.set(code, (this.scrapes.get(code) ?? 0) + 1);
  }

  refuse(
    reason:
      | "robot_tls"
      | "controller_tls"
      | "bad_name"
      | "bad_protocol"
      | "bad_request"
      | "idle"
      | "not_connected"
      | "no_stream",
  ): void {
    this.refusals.set(reason, (this.refusals.get(reason) ?? 0) + 1);
  }

  text(): string {
    const lines = [
      "# HELP ros_rollback_relay_robots_connected Robots with a control connection now.",
      "# TYPE ros_rollback_relay_robots_connected gauge",
      `ros_rollback_relay_robots_connected ${this.connected}`,
      "# HELP ros_rollback_relay_streams_open Controller streams being relayed now.",
      "# TYPE ros_rollback_relay_streams_open gauge",
      `ros_rollback_relay_streams_open ${this.streamsOpen}`,
      "# TYPE ros_rollback_relay_streams_total counter",
      `ros_rollback_relay_streams_total ${this.streamsTotal}`,
      "# TYPE ros_rollback_relay_bytes_total counter",
      `ros_rollback_relay_bytes_total{direction="to_robot"} ${this.bytesToRobots}`,
      `ros_rollback_relay_bytes_total{direction="from_robot"} ${this.bytesFromRobots}`,
      "# HELP ros_rollback_relay_robot_connects_total Control connections accepted (a reconnect counts).",
      "# TYPE ros_rollback_relay_robot_connects_total counter",
      `ros_rollback_relay_robot_connects_total ${this.robotConnects}`,
      "# TYPE ros_rollback_relay_replaced_total counter",
      `ros_rollback_relay_replaced_total ${this.replaced}`,
      "# TYPE ros_rollback_relay_refusals_total counter",
      ...[...this.refusals].map(([r, n]) => `ros_rollback_relay_refusals_total{reason="${r}"} ${n}`),
      "# HELP ros_rollback_relay_robot_scrapes_total Scrapes of /robots/NAME/metrics by the status answered.",
      "# TYPE ros_rollback_relay_robot_scrapes_total counter",
      ...[...this.scrapes].map(([c, n]) => `ros_rollback_relay_robot_scrapes_total{code="${c}"} ${n}`),
    ];
    return `${lines.join("\n")}\n`;
  }
}
