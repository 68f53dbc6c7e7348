export { ErrorCodes, parseErrorCode, type ErrorCode } from './codes';
export { EdgekdError, isEdgekdError, toEdgekdError } from './edgekd-error';
