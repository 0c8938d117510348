"""Networking: RSS, traffic, moderation algorithms, NAPI helpers (docs/networking.md)."""
