/** Whether `p` settles (either way) within `ms`. */
export async function settlesWithin(p: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<boolean>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  try {
    const done = p.then(
      () => true,
      () => true,
    );
    return await Promise.race([done, late]);
  } finally {
    clearTimeout(timer);
  }
}
