"""The HTTP layer: the JSON API, the console, credentials, error handlers, commands."""
