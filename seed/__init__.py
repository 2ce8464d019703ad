"""Seed data and admin scripts for the gateway (emulator or, explicitly, a real project)."""
