/**
 * Request body limits. Control routes take small JSON documents, so a large body there is an
 * attack or a mistake and is refused before it is parsed; only upload routes (teachers, as base64
 * JSON) opt into the large limit in their route options.
 */
export const CONTROL_BODY_LIMIT = 64 * 1024;
export const UPLOAD_BODY_LIMIT = 64 * 1024 * 1024;
