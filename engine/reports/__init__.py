"""Renderings of the replay's report beyond text and JSON (engine/replay.py keeps those)."""
