"""The Telegram side: composition root, thin handlers, sending at Telegram's limits, webhook, terminal."""
