import type { StoreSpace } from "@ros-rollback/proto";

/** "1.8 GiB free of 7.2 GiB on the store, 210 MiB free of 512 MiB on /boot" */
export function spaceText(s: StoreSpace): string {
  const store = `${bytes(s.storeFreeBytes)} free of ${bytes(s.storeSizeBytes)} on the store`;
  return s.bootKnown
    ? `${store}, ${bytes(s.bootFreeBytes)} free of ${bytes(s.bootSizeBytes)} on /boot`
    : store;
}

export function bytes(n: number): string {
  if (n >= 1024 ** 3) return `${(n / 1024 ** 3).toFixed(1)} GiB`;
  if (n >= 1024 ** 2) return `${(n / 1024 ** 2).toFixed(0)} MiB`;
  if (n >= 1024) return `${(n / 1024).toFixed(0)} KiB`;
  return `${n} bytes`;
}
