/**
 * @cortex/cli — the `cortex` command as a library: generate SLO artefacts,
 * run a load baseline, compare two baselines (the same functions the
 * command uses, so a demo or a CI script can print the same tables).
 */
export {
  type BaselineEndpoint,
  type BaselineObjective,
  type BaselineOptions,
  type BaselineProgress,
  type BaselineResult,
  baselineMarkdown,
  baselineTable,
  REFUSAL_DOMINANCE,
  refusalsDominate,
  refusalWarning,
  runBaseline,
} from './baseline.js'
export { type CliIo, runCli, USAGE } from './cli.js'
export {
  type ComparedMetric,
  type CompareOptions,
  type Comparison,
  type ComparisonRow,
  compareBaselines,
  formatComparison,
  parseTolerance,
} from './compare.js'
export { type GenerateOptions, generateArtifacts } from './generate.js'
export { loadSloConfig } from './load-config.js'
