"""Two-factor login (TOTP, RFC 6238): `codes` checks and spends a code at login (the replay
rule: each step and each recovery code works once); `enrolment` sets it up, enables it
with recovery codes and disables it."""
