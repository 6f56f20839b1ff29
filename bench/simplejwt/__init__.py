"""The issue's reference service: a stock djangorestframework-simplejwt project (run by
`bench/run.py` from a venv of its own, bench/.venv-simplejwt; never imported by authsvc)."""
