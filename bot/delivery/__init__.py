"""Who gets what, when, exactly once: planning and the delivery ledger (no Telegram here)."""
