/**
 * A minimal YAML writer for the generated Prometheus rule files: maps, lists,
 * numbers, booleans and strings. Strings are always quoted (single quotes, or
 * JSON form — a valid YAML double-quoted scalar — when they hold control
 * characters), so no value can change meaning.
 */

export type YamlValue = string | number | boolean | YamlValue[] | { [key: string]: YamlValue | undefined }

/** Serialises `value` as block-style YAML, ending with a newline. */
export function toYaml(value: YamlValue): string {
  return `${lines(value, 0).join('\n')}\n`
}

function scalar(value: string | number | boolean): string {
  if (typeof value !== 'string') return String(value)
  // Single quotes keep PromQL readable (only ' is escaped, by doubling it); JSON form for control characters.
  // biome-ignore lint/suspicious/noControlCharactersInRegex: detecting them is the point
  return /[\u0000-\u001f\u007f]/.test(value) ? JSON.stringify(value) : `'${value.replace(/'/g, "''")}'`
}

function isScalar(value: YamlValue): value is string | number | boolean {
  return typeof value !== 'object'
}

function lines(value: YamlValue, indent: number): string[] {
  const pad = ' '.repeat(indent)
  if (isScalar(value)) return [`${pad}${scalar(value)}`]
  if (Array.isArray(value)) {
    if (value.length === 0) return [`${pad}[]`]
    const out: string[] = []
    for (const item of value) {
      if (isScalar(item)) {
        out.push(`${pad}- ${scalar(item)}`)
        continue
      }
      const nested = lines(item, indent + 2)
      out.push(`${pad}- ${(nested[0] ?? '').trimStart()}`, ...nested.slice(1))
    }
    return out
  }
  const entries = Object.entries(value).filter(([, v]) => v !== undefined) as [string, YamlValue][]
  if (entries.length === 0) return [`${pad}{}`]
  const out: string[] = []
  for (const [key, v] of entries) {
    const k = /^[A-Za-z_][A-Za-z0-9_]*$/.test(key) ? key : JSON.stringify(key)
    if (
      isScalar(v) ||
      (Array.isArray(v) && v.length === 0) ||
      (!Array.isArray(v) && Object.keys(v).length === 0)
    ) {
      out.push(`${pad}${k}: ${isScalar(v) ? scalar(v) : Array.isArray(v) ? '[]' : '{}'}`)
    } else {
      out.push(`${pad}${k}:`, ...lines(v, indent + 2))
    }
  }
  return out
}
