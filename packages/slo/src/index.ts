/**
 * @cortex/slo: its public surface is added by its own issue (see README.md).
 */
export {}
