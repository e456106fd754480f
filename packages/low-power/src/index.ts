/**
 * @cortex/low-power: its public surface is added by its own issue (see README.md).
 */
export {}
