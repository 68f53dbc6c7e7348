"""The checks a device runs on an offer before downloading anything (docs/protocol.md, "Offer").

Each failure raises DeviceError with the protocol's error code; the first failing check decides.
"""
import base64
import datetime
import hashlib
import re

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

import jcs

SIGNATURE_CONTEXT = b"edgekd-manifest-v1\n"
MAX_FUTURE_SKEW_S = 300
_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


class DeviceError(Exception):
    def __init__(self, code, message):
        super().__init__(message)
        self.code = code
        self.message = message


def parse_time(text):
    """RFC 3339 UTC time -> aware datetime (None when unreadable)."""
    try:
        return datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except (AttributeError, ValueError):
        return None


def check_manifest_shape(m):
    """The fields a device acts on (the full schema is docs/protocol/schemas/manifest.schema.json)."""
    def need(ok, what):
        if not ok:
            raise DeviceError("EDGEKD_PACKAGE_INVALID", "invalid manifest: " + what)
    need(isinstance(m, dict), "not an object")
    need(m.get("schemaVersion") == 1, "schemaVersion must be 1")
    need(isinstance(m.get("name"), str) and _NAME.match(m["name"]), "bad name")
    need(type(m.get("version")) is int and m["version"] >= 1, "version must be an integer >= 1")
    need(parse_time(m.get("createdAt")) is not None, "bad createdAt")
    model = m.get("model")
    need(isinstance(model, dict) and model.get("file") == "model.onnx", "bad model")
    need(isinstance(model.get("sha256"), str) and _SHA256.match(model["sha256"]), "bad model.sha256")
    need(type(model.get("size")) is int and model["size"] >= 1, "bad model.size")
    need(isinstance(m.get("runtime"), dict), "missing runtime")


def verify_signature(manifest, signature, trusted_keys, now):
    """Key trust, then Ed25519 over the context line + RFC 8785 canonical manifest."""
    key_id = signature.get("keyId") if isinstance(signature, dict) else None
    if not isinstance(key_id, str) or signature.get("algorithm") != "Ed25519":
        raise DeviceError("EDGEKD_PACKAGE_INVALID", "invalid signature document")
    key = next((k for k in trusted_keys.get("keys", []) if k.get("keyId") == key_id), None)
    signed_at = parse_time(manifest["createdAt"])
    if key is None:
        raise DeviceError("EDGEKD_KEY_UNTRUSTED", "key %s is not trusted" % key_id)
    if key.get("revoked"):
        raise DeviceError("EDGEKD_KEY_UNTRUSTED", "key %s is revoked" % key_id)
    if key.get("validFrom") and signed_at < parse_time(key["validFrom"]):
        raise DeviceError("EDGEKD_KEY_UNTRUSTED", "manifest predates key %s" % key_id)
    if key.get("validUntil") and signed_at > parse_time(key["validUntil"]):
        raise DeviceError("EDGEKD_KEY_UNTRUSTED", "key %s expired before the manifest was signed" % key_id)
    if (signed_at - now).total_seconds() > MAX_FUTURE_SKEW_S:
        raise DeviceError("EDGEKD_KEY_UNTRUSTED", "the manifest is dated in the future")
    try:
        sig = base64.b64decode(signature.get("signature", ""), validate=True)
        public = Ed25519PublicKey.from_public_bytes(base64.b64decode(key["publicKey"]))
        public.verify(sig, SIGNATURE_CONTEXT + jcs.canonicalize(manifest).encode("utf-8"))
    except (InvalidSignature, ValueError) as e:
        raise DeviceError("EDGEKD_SIGNATURE_INVALID", "signature by %s does not verify (%s)" % (key_id, type(e).__name__))


def preflight(offer, trusted_keys, active_model, max_model_bytes, disk_free_bytes, now):
    """Returns the manifest when the offer may be downloaded; raises DeviceError otherwise."""
    m = offer.get("manifest")
    check_manifest_shape(m)
    d, ref = offer["delivery"], offer["model"]
    if ref["name"] != m["name"] or ref["version"] != m["version"] or ref["sha256"] != m["model"]["sha256"]:
        raise DeviceError("EDGEKD_PACKAGE_INVALID", "the offer's model does not match the signed manifest")
    if d["sha256"] != m["model"]["sha256"] or d["sizeBytes"] != m["model"]["size"]:
        raise DeviceError("EDGEKD_PACKAGE_INVALID", "the delivery plan does not match the signed manifest")
    if len(d["chunkSha256"]) != -(-d["sizeBytes"] // d["chunkBytes"]):
        raise DeviceError("EDGEKD_PACKAGE_INVALID", "the delivery plan lists the wrong number of chunk hashes")
    verify_signature(m, offer.get("signature"), trusted_keys, now)
    if active_model and active_model["name"] == m["name"] and m["version"] <= active_model["version"]:
        # This device does not check signed downgrade statements, so it accepts no downgrade; an
        # offer that asks for one gets the code of an unauthorised downgrade (docs/protocol.md).
        if offer.get("allowDowngrade") or offer.get("downgrade") is not None:
            raise DeviceError("EDGEKD_DOWNGRADE_UNAUTHORIZED", "this device accepts no downgrade (signed statements are not checked here)")
        raise DeviceError("EDGEKD_DOWNGRADE_REJECTED", "version %d is not newer than the active %d" % (m["version"], active_model["version"]))
    if m["model"]["size"] > max_model_bytes:
        raise DeviceError("EDGEKD_PAYLOAD_TOO_LARGE", "the model is larger than this device accepts")
    if disk_free_bytes < 2 * m["model"]["size"]:
        raise DeviceError("EDGEKD_DISK_FULL", "not enough free disk to download and stage the model")
    return m


def sha256_hex(data):
    return hashlib.sha256(data).hexdigest()
