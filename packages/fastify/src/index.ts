/**
 * @cortex/fastify — Fastify adapter for @cortex/*. It only translates Fastify
 * requests and replies to the plain shapes the packages speak.
 */
export { requestInfo, routeOf } from './request-info.js'
