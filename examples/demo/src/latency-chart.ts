/**
 * An SVG chart of latency percentiles per endpoint (P50, P95, P99 as grouped
 * horizontal bars on a log scale), written by the demo to reports/latency.svg.
 */
import type { BaselineResult } from '@cortex/cli'

const COLOURS = { p50: '#4e79a7', p95: '#f28e2b', p99: '#e15759' } as const
const escapeXml = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;')

export function latencyChartSvg(result: BaselineResult): string {
  const rows = result.endpoints.filter((e) => Number.isFinite(e.p99) && e.p99 > 0)
  const left = 220
  const width = 760
  const barH = 9
  const groupH = 3 * barH + 14
  const top = 50
  const height = top + rows.length * groupH + 50
  const max = Math.max(1, ...rows.map((e) => e.p99))
  const min = Math.min(0.1, ...rows.map((e) => e.p50).filter((v) => v > 0))
  const lo = Math.log10(min)
  const hi = Math.log10(max) + 0.1
  const x = (ms: number) => left + ((Math.log10(Math.max(ms, min)) - lo) / (hi - lo)) * (width - left - 70)
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="${left}" y="22" font-size="14" font-weight="bold">Latency per endpoint (ms, log scale) — ${escapeXml(result.service)}</text>`,
  ]
  for (let d = Math.ceil(lo); d <= Math.floor(hi); d++) {
    const v = 10 ** d
    parts.push(
      `<line x1="${x(v)}" y1="${top - 8}" x2="${x(v)}" y2="${height - 40}" stroke="#ddd"/>`,
      `<text x="${x(v)}" y="${height - 26}" text-anchor="middle" fill="#555">${v >= 1 ? v : v.toFixed(1)}</text>`,
    )
  }
  rows.forEach((e, i) => {
    const y = top + i * groupH
    parts.push(
      `<text x="${left - 8}" y="${y + 1.8 * barH}" text-anchor="end">${escapeXml(e.endpoint)}</text>`,
    )
    ;(['p50', 'p95', 'p99'] as const).forEach((k, j) => {
      const v = e[k]
      const by = y + j * barH
      parts.push(
        `<rect x="${left}" y="${by}" width="${Math.max(1, x(v) - left).toFixed(1)}" height="${barH - 1}" fill="${COLOURS[k]}"/>`,
        `<text x="${(x(v) + 4).toFixed(1)}" y="${by + barH - 1}" font-size="9" fill="#333">${v.toFixed(v >= 10 ? 0 : 2)}</text>`,
      )
    })
  })
  const legendY = height - 10
  ;(['p50', 'p95', 'p99'] as const).forEach((k, j) => {
    parts.push(
      `<rect x="${left + j * 80}" y="${legendY - 9}" width="10" height="10" fill="${COLOURS[k]}"/>`,
      `<text x="${left + j * 80 + 14}" y="${legendY}">${k.toUpperCase()}</text>`,
    )
  })
  parts.push('</svg>')
  return `${parts.join('\n')}\n`
}
