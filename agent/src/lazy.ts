/**
 * `load` on the first call only: concurrent first calls share its one promise, later calls get
 * the same result; a load that fails is tried again by the next call. For modules an idle agent
 * does not need (issue 13: its RSS), imported by the composition's adapters on first use.
 */
export function lazy<T>(load: () => Promise<T>): () => Promise<T> {
  let loading: Promise<T> | undefined;
  return () => {
    if (loading === undefined) {
      const attempt = load();
      loading = attempt;
      attempt.catch(() => {
        if (loading === attempt) loading = undefined;
      });
    }
    return loading;
  };
}
