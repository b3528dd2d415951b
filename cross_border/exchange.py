"""The exchange between two sides, without transport or ROS: what to send, what to accept, what to deliver.

:class:`Exchange` is one side's half. ``submit`` puts a local document in the outbox;
``due`` gives the signed envelopes to (re-)send now, with back-off; ``receive`` checks an
incoming envelope (schema, signature, sender, replay window, seen ids, the document's own
schema), stores it and answers with a signed acknowledgement; ``deliver`` hands the documents
received to the application exactly once, in the sender's order per container. Time (``now``,
POSIX seconds) is always passed in, so tests drive it.

Why a re-sent document is a new *attempt* (new ``sent_at`` and signature, same ``msg_id``):
a document queued during a long cut must still pass the receiver's replay window when the link
comes back, while an envelope copied off the wire and sent again (same attempt) is a replay.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from yard_model.documents import first_error

from .signing import sign, signature_ok
from .store import InRow, Store

KINDS = ("customs_manifest", "clearance_decision")
ID_FIELD = {"customs_manifest": "manifest_id", "clearance_decision": "decision_id", "border_ack": "ack_id"}
REJECT_CODES = ("malformed", "unsigned", "wrong_sender", "bad_signature", "stale", "replayed", "invalid_document")


@dataclass(frozen=True)
class ExchangeConfig:
    """Timing of one side's exchange (the gateway's parameters)."""

    side: str
    peer: str
    resend_initial_s: float = 1.0
    resend_max_s: float = 10.0
    replay_window_s: float = 300.0
    max_clock_skew_s: float = 5.0
    batch: int = 200


@dataclass(frozen=True)
class Rejection:
    """Why an envelope was refused: a code of REJECT_CODES and a reason for the log."""

    code: str
    reason: str
    msg_id: str | None = None
    kind: str | None = None
    container_id: str | None = None


@dataclass
class Received:
    """What one incoming envelope led to."""

    replies: list[bytes] = field(default_factory=list)  # signed acknowledgements to send back
    rejection: Rejection | None = None
    acked: tuple[str, str, str, int, str | None] | None = None  # (msg_id, status, reason, attempts, container)
    stored: str | None = None  # msg_id of a new document in the inbox
    duplicate: str | None = None  # msg_id of a document received before


class SubmitError(ValueError):
    """A local document cannot be sent (the message says why)."""


class Exchange:
    """One side's outbox, inbox and checks; the keys are this side's private key and the peer's public key."""

    def __init__(self, config: ExchangeConfig, store: Store, key: Ed25519PrivateKey, peer_key: Ed25519PublicKey):
        if config.side == config.peer:
            raise ValueError(f"side and peer are both {config.side}")
        self.config, self.store, self.key, self.peer_key = config, store, key, peer_key
        self.rejections: dict[str, int] = dict.fromkeys(REJECT_CODES, 0)

    # ------------------------------------------------------------------ sending
    def submit(self, kind: str, doc: dict[str, Any], now: float) -> tuple[bool, int | None]:
        """Queue a local document for the other side; (newly queued?, its sequence number).

        The same document again is a no-op (False); another document under an id already used raises.
        """
        if kind not in KINDS:
            raise SubmitError(f"unknown kind '{kind}'")
        err = first_error(kind, doc)
        if err is not None:
            where = "/".join(str(p) for p in err.absolute_path) or "(document)"
            raise SubmitError(f"{kind}: {where}: {err.message}")
        msg_id = doc[ID_FIELD[kind]]
        known = self.store.outbox_get(msg_id)
        if known is not None:
            if json.loads(known[0]) != doc:
                raise SubmitError(f"id_reused: {msg_id} was already sent with other content")
            return False, None
        return True, self.store.outbox_add(msg_id, kind, doc.get("container_id"), doc, now)

    def due(self, now: float) -> list[bytes]:
        """Signed envelopes of the documents to (re-)send now; each is due again after a growing back-off."""
        out = []
        with self.store.transaction():
            for row in self.store.outbox_due(now, self.config.batch):
                attempt = row.attempts + 1
                out.append(self._envelope(row.msg_id, row.kind, row.body, now, attempt, row.container_id, row.seq))
                backoff = min(self.config.resend_max_s, self.config.resend_initial_s * 2 ** (attempt - 1))
                self.store.outbox_sent(row.msg_id, attempt, now + backoff)
        return out

    def link_restored(self, now: float) -> int:
        """Everything unacknowledged becomes due at once (no waiting out a long back-off after a cut)."""
        return self.store.outbox_resend_now(now)

    def _envelope(self, msg_id: str, kind: str, body: dict[str, Any], now: float, attempt: int = 1,
                  container_id: str | None = None, seq: int | None = None) -> bytes:
        env = {"msg_id": msg_id, "kind": kind, "sender": self.config.side, "recipient": self.config.peer,
               "container_id": container_id, "seq": seq, "attempt": attempt, "sent_at": now, "body": body}
        return json.dumps(sign(env, self.key), separators=(",", ":"), ensure_ascii=False).encode("utf-8")

    def _ack(self, msg_id: str, status: str, reason: str, now: float) -> bytes:
        ack_id = f"ack-{uuid.uuid4().hex}"
        body = {"ack_id": ack_id, "msg_id": msg_id, "status": status, "side": self.config.side, "stamp": now}
        if reason:
            body["reason"] = reason
        return self._envelope(ack_id, "border_ack", body, now)

    # ------------------------------------------------------------------ receiving
    def check(self, payload: bytes, now: float) -> tuple[dict[str, Any] | None, Rejection | None]:
        """The envelope if it is well-formed, signed by the peer and fresh, else why not (nothing stored)."""
        try:
            env = json.loads(payload)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            return None, Rejection("malformed", f"not JSON: {exc}")
        err = first_error("border_envelope", env)
        if err is not None:
            where = "/".join(str(p) for p in err.absolute_path) or "(envelope)"
            ids = env if isinstance(env, dict) else {}
            return None, Rejection("malformed", f"border_envelope: {where}: {err.message}",
                                   _str(ids.get("msg_id")), _str(ids.get("kind")))
        who = Rejection("", "", env["msg_id"], env["kind"], env.get("container_id"))
        if "signature" not in env:
            return None, _with(who, "unsigned", "envelope has no signature")
        if env["sender"] != self.config.peer or env["recipient"] != self.config.side:
            return None, _with(who, "wrong_sender", f"from {env['sender']} to {env['recipient']}; this gateway "
                                                    f"takes only {self.config.peer} to {self.config.side}")
        if not signature_ok(env, self.peer_key):
            return None, _with(who, "bad_signature", f"signature does not verify with {self.config.peer}'s public "
                                                     f"key (signed by another key, or altered on the way)")
        age = now - env["sent_at"]
        if age > self.config.replay_window_s:
            return None, _with(who, "stale", f"sent {age:.1f} s ago, outside the replay window "
                                             f"({self.config.replay_window_s:g} s)")
        if -age > self.config.max_clock_skew_s:
            return None, _with(who, "stale", f"sent {-age:.1f} s in the future (clock skew allowed: "
                                             f"{self.config.max_clock_skew_s:g} s)")
        if not self.store.seen_add(f"{env['msg_id']}#{env['attempt']}", env["sent_at"]):
            return None, _with(who, "replayed", f"attempt {env['attempt']} of {env['msg_id']} was received before")
        return env, None

    def receive_many(self, payloads: list[bytes], now: float) -> list[Received]:
        """``receive`` for a batch in one transaction: one disk sync, and no acknowledgement leaves before it."""
        with self.store.transaction():
            return [self.receive(p, now) for p in payloads]

    def receive(self, payload: bytes, now: float) -> Received:
        """Handle one envelope from the link: reject it, take an acknowledgement, or store and acknowledge it."""
        out = Received()
        env, rejection = self.check(payload, now)
        if rejection is not None:
            self.rejections[rejection.code] += 1
            out.rejection = rejection
            return out
        kind, msg_id, body = env["kind"], env["msg_id"], env["body"]
        if kind == "border_ack":
            err = first_error("border_ack", body)
            if err is not None:
                self.rejections["invalid_document"] += 1
                out.rejection = Rejection("invalid_document", f"border_ack: {err.message}", msg_id, kind)
                return out
            first, attempts, container = self.store.outbox_ack(body["msg_id"], body["status"],
                                                               body.get("reason", ""), now)
            if first:
                out.acked = (body["msg_id"], body["status"], body.get("reason", ""), attempts, container)
            return out
        status = self.store.inbox_status(msg_id)
        if status is not None:
            out.duplicate = msg_id
            out.replies.append(self._ack(msg_id, "duplicate" if status != "rejected" else "rejected",
                                         "received before", now))
            return out
        problem = self._document_problem(env)
        self.store.inbox_add(msg_id, env["sender"], kind, env.get("container_id"), env.get("seq"), body,
                             "rejected" if problem else "pending", now)
        if problem:
            self.rejections["invalid_document"] += 1
            out.rejection = Rejection("invalid_document", problem, msg_id, kind, env.get("container_id"))
            out.replies.append(self._ack(msg_id, "rejected", problem, now))
        else:
            out.stored = msg_id
            out.replies.append(self._ack(msg_id, "accepted", "", now))
        return out

    def _document_problem(self, env: dict[str, Any]) -> str:
        """Why a correctly signed document is still unacceptable ('' if it is fine)."""
        kind, body = env["kind"], env["body"]
        err = first_error(kind, body)
        if err is not None:
            where = "/".join(str(p) for p in err.absolute_path) or "(document)"
            return f"{kind}: {where}: {err.message}"
        if body[ID_FIELD[kind]] != env["msg_id"]:
            return f"{kind}: id {body[ID_FIELD[kind]]} differs from the envelope's {env['msg_id']}"
        if body.get("container_id") != env.get("container_id") or env.get("seq") is None:
            return f"{kind}: envelope container/seq do not match the document"
        if kind == "clearance_decision" and body["side"] != env["sender"]:
            return f"clearance_decision: decided by {body['side']} but signed by {env['sender']}"
        if kind == "customs_manifest" and body["origin_side"] != env["sender"]:
            return f"customs_manifest: origin {body['origin_side']} but sent by {env['sender']}"
        return ""

    def deliver(self, now: float, publish: Callable[[InRow], None], limit: int = 1000) -> int:
        """Hand each deliverable document to ``publish``, in order per container; returns how many.

        A document is marked delivered right after ``publish`` returns, so it is never handed over twice
        while the gateway runs; only a crash before the batch's commit repeats its
        documents, and their ids say so.
        """
        n = 0
        with self.store.transaction():  # one disk sync per batch; a crash inside repeats at most this batch
            while n < limit:
                row = self.store.next_deliverable()
                if row is None:
                    break
                publish(row)
                self.store.mark_delivered(row, now)
                n += 1
        return n

    def prune(self, now: float) -> int:
        """Forget seen envelopes old enough for the replay window to reject them anyway."""
        return self.store.seen_prune(now - self.config.replay_window_s - self.config.max_clock_skew_s)


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _with(who: Rejection, code: str, reason: str) -> Rejection:
    return Rejection(code, reason, who.msg_id, who.kind, who.container_id)
