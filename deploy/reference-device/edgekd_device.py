#!/usr/bin/env python3
"""A small edgekd device written from docs/protocol.md alone: Python 3, paho-mqtt, cryptography.

It speaks the whole device side of protocol v1 (presence with will, heartbeats, offers with the
pre-download checks, MQTT chunk download, whole-file verification, A/B slots switched by renaming
a pointer file, bake, rollback commands, an on-disk outbox acked by the cloud). It has no inference
runtime: warm-up and shadow report no inferences, and inference requests are answered with an
error. It does not resume a deployment after a restart; it reports it failed instead.

usage: edgekd_device.py --broker mqtt://HOST:PORT --device ID --trusted-keys FILE --state-dir DIR
"""
import argparse
import base64
import datetime
import json
import os
import queue
import shutil
import signal
import struct
import threading
import time
import urllib.parse
import uuid

import paho.mqtt.client as mqtt

from package_checks import DeviceError, preflight, sha256_hex

AGENT_VERSION = "reference-py-0.1"
TERMINAL = ("committed", "rolled_back", "failed", "rejected")


def now_iso():
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def write_atomic(path, data):
    """Write, fsync, rename, fsync the directory: the file is either old or new after a crash."""
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    fd = os.open(os.path.dirname(path) or ".", os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def parse_chunk_frame(payload):
    """'EKC1' | uint32 big-endian header length H | H bytes of JSON header | chunk bytes."""
    if len(payload) < 8 or payload[:4] != b"EKC1":
        raise DeviceError("EDGEKD_MESSAGE_INVALID", "chunk frame without the EKC1 prefix")
    (length,) = struct.unpack(">I", payload[4:8])
    if length > 16 * 1024 or 8 + length > len(payload):
        raise DeviceError("EDGEKD_MESSAGE_INVALID", "chunk frame header length does not fit the frame")
    try:
        header = json.loads(payload[8:8 + length].decode("utf-8"))
    except ValueError:
        raise DeviceError("EDGEKD_MESSAGE_INVALID", "chunk frame header is not JSON")
    if not isinstance(header, dict) or header.get("schema") != "edgekd.chunk/1" or type(header.get("index")) is not int:
        raise DeviceError("EDGEKD_MESSAGE_INVALID", "chunk frame header fails its schema")
    return header, payload[8 + length:]


class Cancelled(Exception):
    """A rollback command arrived for the deployment that is running."""


class Device:
    def __init__(self, args):
        self.args = args
        self.id = args.device
        self.dir = args.state_dir
        os.makedirs(os.path.join(self.dir, "slots"), exist_ok=True)
        self.trusted = json.load(open(args.trusted_keys, encoding="utf-8"))
        self.lock = threading.RLock()
        self.state = self._load("state.json", {"bootSeq": 0, "seq": 0, "finished": [], "commands": [], "current": None})
        self.state["bootSeq"] += 1
        self.outbox = self._load("outbox.json", [])  # [{seq, key, kind, payload}] not yet acked
        self.pointer = self._load("active.json", None)  # {slot, model, previous: {slot, model} | None}
        self.boot_id = str(uuid.uuid4())
        self.started = time.monotonic()
        self.session = 1
        self.sent_at = {}
        self.work = queue.Queue()  # offers and commands, handled one at a time
        self.chunks = queue.Queue()
        self.abort = None  # commandId of a rollback for the running deployment
        self.running = None  # deploymentId being worked on
        self.stopping = threading.Event()
        self._save_state()

    # ---- persistence -------------------------------------------------------------------------
    def _path(self, name):
        return os.path.join(self.dir, name)

    def _load(self, name, default):
        try:
            with open(self._path(name), encoding="utf-8") as f:
                return json.load(f)
        except FileNotFoundError:
            return default

    def _save_state(self):
        write_atomic(self._path("state.json"), json.dumps(self.state).encode())

    def active_model(self):
        return self.pointer["model"] if self.pointer else None

    # ---- MQTT --------------------------------------------------------------------------------
    def topic(self, suffix):
        return "edgekd/v1/devices/%s/%s" % (self.id, suffix)

    def presence(self, state, session, reason=None):
        doc = {"schema": "edgekd.presence/1", "deviceId": self.id, "state": state, "bootId": self.boot_id,
               "bootSeq": self.state["bootSeq"], "sessionSeq": session, "ts": now_iso(), "agentVersion": AGENT_VERSION,
               "activeModel": self.active_model(), "trustedKeyIds": [k["keyId"] for k in self.trusted["keys"]]}
        if reason:
            doc["reason"] = reason
        return json.dumps(doc)

    def connect(self):
        url = urllib.parse.urlparse(self.args.broker)
        kwargs = {"client_id": self.id, "clean_session": False, "protocol": mqtt.MQTTv311}
        if hasattr(mqtt, "CallbackAPIVersion"):  # paho-mqtt 2.x
            kwargs["callback_api_version"] = mqtt.CallbackAPIVersion.VERSION1
        self.client = mqtt.Client(**kwargs)
        username = self.args.username or (urllib.parse.unquote(url.username) if url.username else None)
        password = self.args.password or os.environ.get("EDGEKD_MQTT_PASSWORD") or (urllib.parse.unquote(url.password) if url.password else None)
        if username or password:
            # The protocol's username is the device id; a password alone implies it.
            self.client.username_pw_set(username or self.id, password)
        self.client.will_set(self.topic("presence"), self.presence("offline", self.session, "lost"), qos=1, retain=True)
        self.client.on_connect = self.on_connect
        self.client.on_message = self.on_message
        self.client.reconnect_delay_set(0.2, 5)
        self.client.connect(url.hostname, url.port or 1883, keepalive=self.args.keepalive)
        self.client.loop_start()

    def on_connect(self, client, userdata, flags, rc):
        if rc != 0:
            print("connect refused, rc=%d" % rc, flush=True)
            return
        for suffix in ("offer", "cmd", "ack", "chunk/res", "infer/req"):
            client.subscribe(self.topic(suffix), qos=1)
        client.publish(self.topic("presence"), self.presence("online", self.session), qos=1, retain=True)
        # The will registered for the next connection carries the next session number.
        self.session += 1
        client.will_set(self.topic("presence"), self.presence("offline", self.session, "lost"), qos=1, retain=True)
        self.flush_outbox(everything=True)

    def on_message(self, client, userdata, msg):
        suffix = msg.topic[len(self.topic("")):]
        try:
            if suffix == "chunk/res":
                self.chunks.put(parse_chunk_frame(msg.payload))
                return
            doc = json.loads(msg.payload.decode("utf-8")) if msg.payload else None
            if suffix == "ack":
                self.acked(doc["keys"])
            elif suffix == "offer" and doc:
                self.work.put(("offer", doc))
            elif suffix == "cmd":
                if doc.get("type") == "rollback" and doc.get("deploymentId") == self.running and doc["commandId"] not in self.state["commands"]:
                    self.abort = doc["commandId"]  # the running deployment stops at its next check
                self.work.put(("cmd", doc))
            elif suffix == "infer/req":
                self.answer_inference(doc)
        except (DeviceError, ValueError, KeyError, TypeError, AttributeError) as e:
            print("dropped an invalid message on %s: %s" % (msg.topic, e), flush=True)  # EDGEKD_MESSAGE_INVALID

    def answer_inference(self, req):
        code = "EDGEKD_NO_ACTIVE_MODEL" if not self.pointer else "EDGEKD_INFERENCE_FAILED"
        res = {"schema": "edgekd.infer-response/1", "requestId": req["requestId"], "ok": False,
               "error": {"code": code, "message": "this reference device has no inference runtime"}}
        self.client.publish(self.topic("infer/res"), json.dumps(res), qos=1)

    # ---- outbox: reports survive restarts until the cloud acks them ----------------------------
    def report(self, deployment_id, state, **fields):
        with self.lock:
            self.state["seq"] += 1
            self._save_state()
            doc = {"schema": "edgekd.status/1", "deviceId": self.id, "bootId": self.boot_id, "seq": self.state["seq"],
                   "idempotencyKey": str(uuid.uuid4()), "ts": now_iso(), "deploymentId": deployment_id, "state": state,
                   "activeModel": self.active_model()}
            doc.update({k: v for k, v in fields.items() if v is not None})
            self.outbox.append({"key": doc["idempotencyKey"], "payload": json.dumps(doc)})
            write_atomic(self._path("outbox.json"), json.dumps(self.outbox).encode())
        print("report %s %s %s" % (deployment_id, state, (fields.get("error") or {}).get("code", "")), flush=True)
        self.flush_outbox()

    def acked(self, keys):
        with self.lock:
            before = len(self.outbox)
            self.outbox = [e for e in self.outbox if e["key"] not in keys]
            if len(self.outbox) != before:
                write_atomic(self._path("outbox.json"), json.dumps(self.outbox).encode())

    def flush_outbox(self, everything=False):
        """Publishes reports never sent, or last sent longer ago than the resend interval."""
        with self.lock:
            due = time.monotonic() - self.args.resend_ms / 1000
            for e in self.outbox:
                if everything or self.sent_at.get(e["key"], 0) < due:
                    self.sent_at[e["key"]] = time.monotonic()
                    self.client.publish(self.topic("status"), e["payload"], qos=1)

    def heartbeat(self):
        with open("/proc/self/statm") as f:
            rss = int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
        doc = {"schema": "edgekd.heartbeat/1", "deviceId": self.id, "bootId": self.boot_id, "ts": now_iso(),
               "intervalMs": self.args.heartbeat_ms, "agentVersion": AGENT_VERSION, "uptimeSec": time.monotonic() - self.started,
               "activeModel": self.active_model(), "executionProvider": None,
               "resources": {"rssBytes": rss, "loadAvg": list(os.getloadavg()), "cpuCount": os.cpu_count()},
               "inference": {"count": 0, "errors": 0, "p50LatencyMs": None, "p95LatencyMs": None},
               "outboxPending": len(self.outbox)}
        if self.running:
            doc["deployment"] = {"deploymentId": self.running, "state": (self.state["current"] or {}).get("state", "offered")}
        self.client.publish(self.topic("heartbeat"), json.dumps(doc), qos=0)

    # ---- deployments -------------------------------------------------------------------------
    def finish(self, offer, terminal, **fields):
        self.state["finished"] = ([f for f in self.state["finished"] if f["deploymentId"] != offer["deploymentId"]]
                                  + [{"deploymentId": offer["deploymentId"], "state": terminal, "model": offer["model"]}])[-100:]
        self.state["current"] = None
        self._save_state()
        self.report(offer["deploymentId"], terminal, rolloutId=offer["rolloutId"], model=offer["model"], **fields)

    def enter(self, offer, state, **fields):
        if self.abort:
            raise Cancelled()
        self.state["current"] = {"deploymentId": offer["deploymentId"], "state": state, "model": offer["model"]}
        self._save_state()
        self.report(offer["deploymentId"], state, rolloutId=offer["rolloutId"], model=offer["model"], **fields)

    def wait(self, seconds):
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            if self.abort:
                raise Cancelled()
            time.sleep(min(0.05, max(0, end - time.monotonic())))

    def download(self, offer):
        """One chunk at a time: ask, wait for a frame that hashes right, append."""
        d = offer["delivery"]
        part = self._path("download.part")
        with open(part, "wb") as out:
            for index in range(len(d["chunkSha256"])):
                bad, not_before = 0, 0.0
                while True:
                    self.wait(max(0.0, not_before - time.monotonic()))
                    req = {"schema": "edgekd.chunk-request/1", "requestId": str(uuid.uuid4()), "deploymentId": offer["deploymentId"],
                           "sha256": d["sha256"], "index": index}
                    self.client.publish(self.topic("chunk/req"), json.dumps(req), qos=1)
                    header, data = self.next_chunk(offer, index)
                    if header is None:
                        continue  # no answer in time: ask again with a new requestId
                    if "error" in header:
                        if "retryAfterMs" not in header:
                            raise DeviceError(header["error"]["code"], "the cloud refused chunk %d: %s" % (index, header["error"]["message"]))
                        not_before = time.monotonic() + header["retryAfterMs"] / 1000
                        continue
                    if sha256_hex(data) == d["chunkSha256"][index]:
                        out.write(data)
                        break
                    bad += 1  # EDGEKD_CHUNK_INVALID: discard and ask again
                    if bad >= 5:
                        raise DeviceError("EDGEKD_CHUNK_INVALID", "chunk %d failed its sha256 5 times" % index)
            out.flush()
            os.fsync(out.fileno())
        return part

    def next_chunk(self, offer, index):
        end = time.monotonic() + self.args.chunk_timeout_ms / 1000
        while True:
            try:
                header, data = self.chunks.get(timeout=max(0.01, end - time.monotonic()))
            except queue.Empty:
                return None, None
            if header.get("deploymentId") == offer["deploymentId"] and header["index"] == index:
                return header, data  # late answers to an older requestId are as good
            if time.monotonic() > end:
                return None, None

    def switch_to(self, pointer):
        if pointer is None:
            try:
                os.remove(self._path("active.json"))
            except FileNotFoundError:
                pass
        else:
            write_atomic(self._path("active.json"), json.dumps(pointer).encode())
        self.pointer = pointer

    def deploy(self, offer):
        dep = offer["deploymentId"]
        if dep == self.running or any(f["deploymentId"] == dep for f in self.state["finished"]):
            return  # each deploymentId is acted on once
        try:
            preflight(offer, self.trusted, self.active_model(), self.args.max_model_bytes,
                      shutil.disk_usage(self.dir).free, datetime.datetime.now(datetime.timezone.utc))
        except DeviceError as e:
            self.finish(offer, "rejected", failedStep="offered", error={"code": e.code, "message": e.message})
            return
        except (KeyError, TypeError, AttributeError) as e:
            print("dropped an offer that is not an edgekd.offer/1 document: %r" % e, flush=True)  # EDGEKD_MESSAGE_INVALID
            return
        self.running, self.abort = dep, None
        activation = offer.get("activation") or {}
        step = "offered"
        try:
            self.enter(offer, "offered")
            step = "downloading"
            self.enter(offer, step, bytesDone=0, bytesTotal=offer["delivery"]["sizeBytes"], transport="mqtt")
            part = self.download(offer)
            step = "verifying"
            self.enter(offer, step)
            with open(part, "rb") as f:
                if sha256_hex(f.read()) != offer["manifest"]["model"]["sha256"]:
                    raise DeviceError("EDGEKD_HASH_MISMATCH", "the downloaded file does not match the signed sha256")
            step = "staging"
            self.enter(offer, step)
            slot = "b" if self.pointer and self.pointer["slot"] == "a" else "a"
            os.replace(part, self._path("slots/%s.onnx" % slot))
            write_atomic(self._path("slots/%s.manifest.json" % slot), json.dumps(offer["manifest"]).encode())
            step = "warming"
            self.enter(offer, step)
            after = {}
            if activation.get("shadow") and self.pointer:
                step = "shadow"
                self.enter(offer, step)
                # No inference runtime: no live input is ever evaluated, so agreement is null.
                after["shadow"] = {"inferences": 0, "agreement": None, "confidenceShift": None}
            step = "activating"
            self.enter(offer, step, **after)
            previous = {"slot": self.pointer["slot"], "model": self.pointer["model"]} if self.pointer else None
            self.switch_to({"slot": slot, "model": offer["model"], "previous": previous})
            step = "baking"
            self.enter(offer, step)
            bake_ms = activation.get("bakeMs", 0)
            self.wait(bake_ms / 1000)
            # No inference runtime: error-rate and latency gates see nothing; a minimum count fails.
            if (activation.get("bakeGate") or {}).get("minInferences", 0) > 0:
                raise DeviceError("EDGEKD_GATE_FAILED", "bake gate: 0 inferences < %d" % activation["bakeGate"]["minInferences"])
            self.finish(offer, "committed", bake={"inferences": 0, "errors": 0, "p95LatencyMs": None, "bakedMs": bake_ms})
        except Cancelled:
            fields = {"failedStep": step, "commandId": self.abort, "error": {"code": "EDGEKD_RUN_CANCELLED", "message": "rollback requested"}}
            self.state["commands"] = (self.state["commands"] + [self.abort])[-200:]
            if step in ("activating", "baking"):
                self.switch_to(self.pointer.get("previous") and dict(self.pointer["previous"], previous=None))
            self.finish(offer, "rolled_back", **fields)
        except DeviceError as e:
            failed = "rolled_back" if step in ("activating", "baking") else "failed"
            if failed == "rolled_back":
                self.switch_to(self.pointer.get("previous") and dict(self.pointer["previous"], previous=None))
            self.finish(offer, failed, failedStep=step, error={"code": e.code, "message": e.message})
        finally:
            self.running, self.abort = None, None

    def command(self, cmd):
        if cmd["commandId"] in self.state["commands"]:
            return  # each commandId is executed once
        self.state["commands"] = (self.state["commands"] + [cmd["commandId"]])[-200:]
        self._save_state()
        if cmd.get("type") == "rebirth":
            self.client.publish(self.topic("presence"), self.presence("online", self.session - 1), qos=1, retain=True)
            self.heartbeat()
            return
        dep = cmd["deploymentId"]
        done = next((f for f in self.state["finished"] if f["deploymentId"] == dep), None)
        if done is None:
            self.report(dep, "failed", commandId=cmd["commandId"], error={"code": "EDGEKD_NOT_FOUND", "message": "this device never ran that deployment"})
        elif done["state"] == "committed" and self.active_model() == done["model"]:
            self.switch_to(self.pointer.get("previous") and dict(self.pointer["previous"], previous=None))
            done["state"] = "rolled_back"
            self._save_state()
            self.report(dep, "rolled_back", model=done["model"], commandId=cmd["commandId"])
        else:
            self.report(dep, done["state"], model=done["model"], commandId=cmd["commandId"])

    # ---- main loop ---------------------------------------------------------------------------
    def run(self):
        interrupted = self.state["current"]
        if interrupted:  # no resume in this reference device: say it failed
            self.state["current"] = None
            self._save_state()
        self.connect()
        if interrupted:
            self.report(interrupted["deploymentId"], "failed", model=interrupted["model"], failedStep=interrupted["state"], resumed=True,
                        error={"code": "EDGEKD_RUN_CANCELLED", "message": "the device restarted during the deployment"})
        next_beat = time.monotonic()
        while not self.stopping.is_set():
            if time.monotonic() >= next_beat:
                if self.client.is_connected():
                    self.heartbeat()
                    self.flush_outbox()
                next_beat = time.monotonic() + self.args.heartbeat_ms / 1000
            try:
                kind, doc = self.work.get(timeout=0.1)
            except queue.Empty:
                continue
            try:
                self.deploy(doc) if kind == "offer" else self.command(doc)
            except (KeyError, TypeError, ValueError) as e:
                print("ignored a malformed %s: %s" % (kind, e), flush=True)  # EDGEKD_MESSAGE_INVALID
        info = self.client.publish(self.topic("presence"), self.presence("offline", self.session - 1, "shutdown"), qos=1, retain=True)
        info.wait_for_publish(timeout=2)
        self.client.disconnect()
        self.client.loop_stop()


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--broker", required=True, help="mqtt://[user:password@]host:port")
    p.add_argument("--device", required=True, help="device id (also the MQTT client id and username)")
    p.add_argument("--username", help="MQTT username (default: from the URL, else the device id)")
    p.add_argument("--password", help="MQTT password (default: $EDGEKD_MQTT_PASSWORD or the URL)")
    p.add_argument("--trusted-keys", required=True, help="trusted-keys.json provisioned on the device")
    p.add_argument("--state-dir", required=True)
    p.add_argument("--keepalive", type=int, default=30)
    p.add_argument("--heartbeat-ms", type=int, default=30000)
    p.add_argument("--resend-ms", type=int, default=10000)
    p.add_argument("--chunk-timeout-ms", type=int, default=5000)
    p.add_argument("--max-model-bytes", type=int, default=512 * 1024 * 1024)
    device = Device(p.parse_args())
    signal.signal(signal.SIGTERM, lambda *_: device.stopping.set())
    signal.signal(signal.SIGINT, lambda *_: device.stopping.set())
    device.run()


if __name__ == "__main__":
    main()
