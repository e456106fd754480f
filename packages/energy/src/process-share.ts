/**
 * This process's share of the machine, for the sources that measure the
 * whole machine (RAPL, hwmon, nvidia-smi, the RAM model): the CPU-time share
 * Scaphandre uses (this process's CPU time over the machine's CPU time,
 * idle included, in the same interval) and the resident-memory share (RSS
 * over the machine's memory). Read from procfs (`/proc/stat`,
 * `/proc/<pid>/stat`, `/proc/<pid>/status`, `/proc/meminfo`); a fixture
 * directory can stand in for `/proc` in tests, and another `pid` reads
 * another process's figures from the same tree.
 */
import { readFile } from 'node:fs/promises'
import { cpus, totalmem } from 'node:os'
import { join } from 'node:path'
import { CortexConfigError, checkKnownKeys, checkObject } from '@cortex/core'

export interface ProcessShareOptions {
  /** The procfs directory. Default `/proc`; a fixture tree in tests. */
  procRoot?: string
  /** The process whose share is taken: a pid or `'self'` (default). */
  pid?: number | 'self'
}

/**
 * One reading of the counters a share is computed from. CPU figures are
 * cumulative, in one unit per reader (clock ticks for procfs); only their
 * differences between readings are used.
 */
export interface ShareCounters {
  /** This process's CPU time (user + system, all its threads). */
  processCpu: number
  /** The machine's CPU time over every CPU, idle included. */
  machineCpu: number
  /** This process's resident memory, bytes. */
  rssBytes: number
  /** The machine's memory, bytes. */
  memoryBytes: number
}

/** Reads the counters; rejects when they cannot be read. */
export interface ShareReader {
  /** `procfs`, or `node` (`os.cpus()` and `process.cpuUsage()`, where there is no procfs). */
  readonly name: 'procfs' | 'node'
  read(): Promise<ShareCounters>
}

/** Validates the options and returns the reader they describe. */
export function shareReader(options: ProcessShareOptions, where: string): ShareReader {
  checkObject(options, 'processShare', where)
  checkKnownKeys(options, ['procRoot', 'pid'], where)
  const { procRoot, pid } = options
  if (procRoot !== undefined && (typeof procRoot !== 'string' || procRoot.length === 0)) {
    throw new CortexConfigError('processShare.procRoot', procRoot, 'a directory path such as "/proc"', where)
  }
  if (pid !== undefined && pid !== 'self' && !(Number.isInteger(pid) && pid > 0)) {
    throw new CortexConfigError('processShare.pid', pid, "a positive integer or 'self'", where)
  }
  const procfs = procfsReader(procRoot ?? '/proc', pid ?? 'self')
  // An explicit procfs (a fixture, a mounted host /proc) must be read; the default falls back to Node.
  if (procRoot !== undefined || pid !== undefined) return procfs
  return fallbackReader(procfs)
}

/** Reads `<root>/stat`, `<root>/<pid>/stat`, `<root>/<pid>/status` and `<root>/meminfo`. */
export function procfsReader(root: string, pid: number | 'self'): ShareReader {
  const dir = join(root, String(pid))
  return {
    name: 'procfs',
    async read() {
      const [stat, own, status, meminfo] = await Promise.all([
        readFile(join(root, 'stat'), 'utf8'),
        readFile(join(dir, 'stat'), 'utf8'),
        readFile(join(dir, 'status'), 'utf8'),
        readFile(join(root, 'meminfo'), 'utf8'),
      ])
      return {
        processCpu: processTicks(own),
        machineCpu: machineTicks(stat),
        rssBytes: kibibytes(status, 'VmRSS'),
        memoryBytes: kibibytes(meminfo, 'MemTotal'),
      }
    },
  }
}

/** procfs when it can be read, else Node's figures (same rule, coarser and for this process only). */
function fallbackReader(procfs: ShareReader): ShareReader {
  let chosen: ShareReader | undefined
  const node: ShareReader = {
    name: 'node',
    read: async () => {
      const usage = process.cpuUsage()
      let machineMs = 0
      for (const c of cpus())
        machineMs += c.times.user + c.times.nice + c.times.sys + c.times.idle + c.times.irq
      return {
        processCpu: (usage.user + usage.system) / 1000,
        machineCpu: machineMs,
        rssBytes: process.memoryUsage.rss(),
        memoryBytes: totalmem(),
      }
    },
  }
  return {
    get name() {
      return (chosen ?? procfs).name
    },
    async read() {
      if (chosen !== undefined) return chosen.read()
      try {
        const counters = await procfs.read()
        chosen = procfs
        return counters
      } catch {
        chosen = node
        return node.read()
      }
    },
  }
}

/** user + nice + system + idle + iowait + irq + softirq + steal of the `cpu` line (guest is inside user). */
function machineTicks(stat: string): number {
  const line = stat.split('\n').find((l) => l.startsWith('cpu '))
  if (line === undefined) throw new Error('no aggregate "cpu" line in stat')
  const fields = line.trim().split(/\s+/).slice(1, 9).map(Number)
  if (fields.length < 4 || !fields.every(Number.isFinite)) throw new Error(`malformed stat line: ${line}`)
  return fields.reduce((a, b) => a + b, 0)
}

/** utime + stime (fields 14 and 15) of `/proc/<pid>/stat`; the command name may hold spaces and parentheses. */
function processTicks(stat: string): number {
  const rest = stat
    .slice(stat.lastIndexOf(')') + 1)
    .trim()
    .split(/\s+/)
  const ticks = Number(rest[11]) + Number(rest[12])
  if (!Number.isFinite(ticks)) throw new Error('malformed <pid>/stat')
  return ticks
}

/** A `Name:   123 kB` line, in bytes. */
function kibibytes(text: string, name: string): number {
  const match = new RegExp(`^${name}:\\s*(\\d+)\\s*kB`, 'm').exec(text)
  if (match === null) throw new Error(`no ${name} line`)
  return Number(match[1]) * 1024
}
