/**
 * The few file-system reads the sysfs sources (RAPL, hwmon) make, behind one
 * small interface so tests and sandboxes can substitute them (a permission
 * error cannot be staged with file modes when tests run as root).
 */
import { readdir, readFile, realpath } from 'node:fs/promises'

export interface SysfsReader {
  /** The text of a file. Rejects with the usual Node error codes (ENOENT, EACCES...). */
  readText(path: string): Promise<string>
  /** Entry names of a directory; rejects when it is missing. */
  list(path: string): Promise<string[]>
  /** Canonical path (follows symlinks), to recognise one zone reached by two paths. */
  canonical(path: string): Promise<string>
}

/** Reads the real file system. */
export const nodeSysfs: SysfsReader = {
  readText: (path) => readFile(path, 'utf8'),
  list: (path) => readdir(path),
  canonical: (path) => realpath(path),
}

/** Error code of a Node file-system error, if any. */
export function errorCode(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code
  return typeof code === 'string' ? code : undefined
}

/** True for the errors that mean "you may not read this". */
export function isPermissionError(err: unknown): boolean {
  const code = errorCode(err)
  return code === 'EACCES' || code === 'EPERM'
}

/** A non-negative integer parsed from a sysfs counter file, or NaN. */
export function parseCounter(text: string): number {
  const trimmed = text.trim()
  if (!/^\d+$/.test(trimmed)) return Number.NaN
  return Number(trimmed)
}
