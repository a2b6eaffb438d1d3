"""One message shown in a sandbox chat, as the page and the chat store (bot/sandbox/store.py) hold it."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any

from handlers.values import Attachment, Button

# kind: "in" for what the test person typed; reply, news, alert or digest for what the bot sent.
KINDS = frozenset({"in", "reply", "news", "alert", "digest"})


@dataclass(frozen=True, slots=True)
class Event:
    """A message shown in a chat, or a new version of one (an edited menu)."""

    seq: int
    chat: str
    message: int
    text: str
    kind: str
    buttons: tuple[tuple[Button, ...], ...] = ()
    attachment: Attachment | None = None
    edit: bool = False

    def as_json(self, *, with_content: bool = True) -> dict[str, Any]:
        data: dict[str, Any] = {
            "seq": self.seq,
            "chat": self.chat,
            "message": self.message,
            "text": self.text,
            "kind": self.kind,
            "edit": self.edit,
            "buttons": [[{"label": b.label, "command": b.command} for b in row] for row in self.buttons],
        }
        if self.attachment is not None:
            data["attachment"] = {
                "filename": self.attachment.filename,
                "mime_type": self.attachment.mime_type,
            }
            if with_content and self.attachment.content:
                data["attachment"]["base64"] = base64.b64encode(self.attachment.content).decode()
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Event:
        """A stored event; a file comes back by name only (its content lived in the process)."""
        attachment = data.get("attachment")
        kind = str(data.get("kind", "reply"))
        return cls(
            seq=int(data["seq"]),
            chat=str(data["chat"]),
            message=int(data["message"]),
            text=str(data.get("text", "")),
            kind=kind if kind in KINDS else "reply",
            buttons=tuple(
                tuple(Button(str(b["label"]), str(b["command"])) for b in row)
                for row in data.get("buttons", [])
            ),
            attachment=(
                Attachment(str(attachment["filename"]), b"", str(attachment["mime_type"]))
                if isinstance(attachment, dict)
                else None
            ),
            edit=bool(data.get("edit", False)),
        )
