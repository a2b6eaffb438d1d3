"""The stadtfunk service: settings, wiring, messenger adapters, storage and web server."""
