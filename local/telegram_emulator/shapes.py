"""Real-shaped Bot API objects: User, Chat, Message, Update (only the fields that matter)."""

from __future__ import annotations

import time


def bot_user(bot_id: int) -> dict:
    return {
        "id": bot_id,
        "is_bot": True,
        "first_name": "Polybot (emulated)",
        "username": "polybot_emulator_bot",
        "can_join_groups": True,
        "can_read_all_group_messages": False,
        "supports_inline_queries": False,
    }


def human_user(chat_id: int) -> dict:
    # In a private chat the chat id is the user's id.
    user_id = chat_id if chat_id > 0 else 1001
    return {
        "id": user_id,
        "is_bot": False,
        "first_name": "Test",
        "last_name": f"User {user_id}",
        "username": f"test_user_{user_id}",
        "language_code": "en",
    }


def chat(chat_id: int) -> dict:
    if chat_id > 0:
        user = human_user(chat_id)
        return {
            "id": chat_id,
            "type": "private",
            "first_name": user["first_name"],
            "last_name": user["last_name"],
            "username": user["username"],
        }
    return {"id": chat_id, "type": "group", "title": f"Test group {chat_id}"}


def message(message_id: int, chat_id: int, sender: dict, **content: object) -> dict:
    return {
        "message_id": message_id,
        "from": sender,
        "chat": chat(chat_id),
        "date": int(time.time()),
        **{key: value for key, value in content.items() if value is not None},
    }


def text_content(text: str) -> dict:
    """text plus a bot_command entity when it starts with a command, as clients send it."""
    content: dict = {"text": text}
    if text.startswith("/"):
        command = text.split(maxsplit=1)[0] if text.strip() else text
        content["entities"] = [{"offset": 0, "length": len(command), "type": "bot_command"}]
    return content
