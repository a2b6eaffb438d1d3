"""Benchmarks of the broadcast engine against a local Bot API stand-in and three peers (`make bench`).

`python -m benchmarks` runs everything and writes `docs/benchmarks.md`. The pieces: `standin` (the lean
Bot API and WhatsApp stand-in process), `peers` (python-telegram-bot, aiogram and raw aiohttp senders,
run in a venv of their own), `processes` (starting and reading the child processes), `scenarios` (what is
measured), `message` (the text every sender sends) and `report` (the markdown). The engine side is
`engine_run`.
"""
