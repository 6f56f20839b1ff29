"""The baselines: a bare Flask JSON view, and one that only does PyJWT's ES256 decode."""

from __future__ import annotations

import os

import jwt
from cryptography.hazmat.primitives.serialization import load_pem_public_key
from flask import Flask, jsonify, request

app = Flask(__name__)
_KEY = load_pem_public_key(os.environ["BENCH_PUBLIC_KEY_PEM"].encode())
_ISSUER = os.environ["BENCH_ISSUER"]


@app.get("/json")
def bare_json():
    return jsonify({"status": "ok"})


@app.get("/decode")
def bare_decode():
    token = request.headers["Authorization"].removeprefix("Bearer ")
    claims = jwt.decode(token, _KEY, algorithms=["ES256"], audience="authsvc", issuer=_ISSUER)
    return jsonify({"active": True, "sub": claims["sub"]})
