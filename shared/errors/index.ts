export { ErrorCodes, parseErrorCode, type ErrorCategory, type ErrorCode, type ErrorCodeSpec } from './codes';
export { EdgekdError, isEdgekdError, toEdgekdError } from './edgekd-error';
