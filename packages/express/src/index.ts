/**
 * @cortex/express — Express adapter for @cortex/*. It only translates Express
 * requests and responses to the plain shapes the packages speak.
 */
export { requestInfo, routeOf } from './request-info.js'
