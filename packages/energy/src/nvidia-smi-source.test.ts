import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { delimiter, join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { createEnergyMeter } from './energy-meter.js'
import { nvidiaSmiSource, parseNvidiaSmi } from './nvidia-smi-source.js'

const dirs: string[] = []
afterEach(async () => {
  await Promise.all(dirs.splice(0).map((d) => rm(d, { recursive: true, force: true })))
})

/** A fake `nvidia-smi` in a temp dir printing two GPUs; the power comes from a file the test edits. */
async function fakeNvidiaSmi(
  script?: string,
): Promise<{ dir: string; command: string; setWatts(a: number, b: number): Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'cortex-nvsmi-'))
  dirs.push(dir)
  const command = join(dir, 'nvidia-smi')
  const watts = join(dir, 'watts')
  await writeFile(watts, '61.50 [N/A]\n')
  await writeFile(
    command,
    script ??
      `#!/bin/sh
case "$*" in *--query-gpu=index,name,power.draw*--format=csv,noheader,nounits*) ;; *) echo "bad args: $*" >&2; exit 2;; esac
read a b < "${watts}"
echo "0, NVIDIA A100-SXM4-40GB, $a"
echo "1, NVIDIA A100-SXM4-40GB, $b"
`,
  )
  await chmod(command, 0o755)
  return { dir, command, setWatts: (a, b) => writeFile(watts, `${a} ${b}\n`) }
}

describe('nvidiaSmiSource', () => {
  it('parses CSV lines, keeping GPUs that do not report power as null', () => {
    expect(parseNvidiaSmi('0, Tesla T4, 27.93\n1, Tesla, T4, [N/A]\ngarbage\n')).toEqual([
      { index: 0, name: 'Tesla T4', watts: 27.93 },
      { index: 1, name: 'Tesla, T4', watts: null },
    ])
  })

  it('sums the power of two GPUs from a fake nvidia-smi on PATH and integrates it exactly', async () => {
    const fake = await fakeNvidiaSmi()
    await fake.setWatts(100, 50)
    const previous = process.env.PATH
    process.env.PATH = `${fake.dir}${delimiter}${previous ?? ''}`
    try {
      let now = 0
      const meter = createEnergyMeter({ sources: [nvidiaSmiSource()], clock: () => now })
      await meter.sample()
      await fake.setWatts(200, 50)
      now = 2000
      const s = await meter.sample()
      // trapezoid 150 W → 250 W over 2 s
      expect(s.host.gpu.joules).toBe(400)
      expect(s.host.gpu.watts).toBe(250)
      expect(s.sources[0]?.details).toEqual({
        gpus: [
          { index: 0, name: 'NVIDIA A100-SXM4-40GB', watts: 200 },
          { index: 1, name: 'NVIDIA A100-SXM4-40GB', watts: 50 },
        ],
      })
    } finally {
      process.env.PATH = previous
    }
  })

  it('reads only the listed GPUs', async () => {
    const fake = await fakeNvidiaSmi()
    await fake.setWatts(100, 50)
    const source = nvidiaSmiSource({ command: fake.command, gpus: [1] })
    expect(await source.available()).toEqual({ available: true })
    expect(await source.read(0)).toEqual({ watts: 50 })
  })

  it('is unavailable, never throwing, when the binary is absent', async () => {
    const source = nvidiaSmiSource({ command: join(tmpdir(), 'cortex-no-such-nvidia-smi') })
    expect(await source.available()).toMatchObject({
      available: false,
      reason: expect.stringContaining('not found'),
    })
    const meter = createEnergyMeter({ sources: [source], clock: () => 0 })
    expect((await meter.sample()).sources[0]).toMatchObject({ used: false })
  })

  it('is unavailable when it fails or hangs', async () => {
    const failing = await fakeNvidiaSmi(
      '#!/bin/sh\necho "NVIDIA-SMI has failed because it could not communicate with the NVIDIA driver" >&2\nexit 9\n',
    )
    expect(await nvidiaSmiSource({ command: failing.command }).available()).toMatchObject({
      available: false,
      reason: expect.stringContaining('failed'),
    })
    const hanging = await fakeNvidiaSmi('#!/bin/sh\nexec sleep 5\n')
    expect(await nvidiaSmiSource({ command: hanging.command, timeoutMs: 100 }).available()).toMatchObject({
      available: false,
      reason: expect.stringContaining('did not answer within 100 ms'),
    })
  })

  it('rejects bad options', () => {
    expect(() => nvidiaSmiSource({ timeoutMs: 0 })).toThrow(/`timeoutMs`/)
    expect(() => nvidiaSmiSource({ gpus: [-1] })).toThrow(/`gpus`/)
  })
})
