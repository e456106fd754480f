/**
 * @cortex/koa — Koa adapter for @cortex/*. It only translates Koa contexts to
 * the plain shapes the packages speak.
 */
export { requestInfo, routeOf } from './request-info.js'
