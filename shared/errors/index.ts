export { ErrorCodes, type ErrorCode } from './codes';
export { EdgekdError, isEdgekdError, toEdgekdError } from './edgekd-error';
