/**
 * @cortex/token-bucket: its public surface is added by its own issue (see README.md).
 */
export {}
