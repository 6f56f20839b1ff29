"""Pure modules: tokens, keys, passwords, TOTP, crypto, clock, errors. No Flask, no SQLAlchemy."""
