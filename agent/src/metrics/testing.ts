import type { Registry } from "prom-client";

/** The value of one series (undefined when it does not exist); `name` may end in _count/_sum/_bucket. */
export async function metricValue(
  registry: Registry,
  name: string,
  labels: Record<string, string> = {},
): Promise<number | undefined> {
  const base = name.replace(/_(count|sum|bucket)$/, "");
  const metric = registry.getSingleMetric(name) ?? registry.getSingleMetric(base);
  if (metric === undefined) throw new Error(`no metric ${name}`);
  const data = await metric.get();
  const own = data.name;
  const match = data.values.find(
    (v) =>
      ((v as { metricName?: string }).metricName ?? own) === name &&
      Object.entries(labels).every(([k, want]) => String(v.labels[k]) === want),
  );
  return match?.value;
}
