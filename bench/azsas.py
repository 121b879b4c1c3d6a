#!/usr/bin/env python3
"""SAS tokens for the Lazuli benchmark, from the documented string-to-sign (stdlib only).

    python3 bench/azsas.py account                 # account SAS (ss=b, srt=sco, sp=rwdlac)
    python3 bench/azsas.py container <container>   # container (service) SAS, sr=c, sp=racwdl

The key defaults to the well-known development-storage key of devstoreaccount1;
the same token is accepted by Lazuli and by Azurite.
"""
import base64
import hashlib
import hmac
import sys
import urllib.parse

ACCOUNT = "devstoreaccount1"
KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
VERSION = "2021-08-06"
EXPIRY = "2099-12-31T23:59:59Z"


def _sign(key_b64: str, string_to_sign: str) -> str:
    mac = hmac.new(base64.b64decode(key_b64), string_to_sign.encode("utf-8"), hashlib.sha256)
    return base64.b64encode(mac.digest()).decode("ascii")


def _encode(params) -> str:
    return "&".join(f"{k}={urllib.parse.quote(v, safe='')}" for k, v in params)


def account_sas(account=ACCOUNT, key=KEY, permissions="rwdlac", services="b",
                resource_types="sco", expiry=EXPIRY, version=VERSION) -> str:
    """Account SAS; string-to-sign for sv >= 2020-12-06:
    account\\nsp\\nss\\nsrt\\nst\\nse\\nsip\\nspr\\nsv\\nses\\n"""
    start, ip, protocol, scope = "", "", "", ""
    sts = "\n".join([account, permissions, services, resource_types, start, expiry,
                     ip, protocol, version, scope]) + "\n"
    return _encode([("sv", version), ("ss", services), ("srt", resource_types),
                    ("sp", permissions), ("se", expiry), ("sig", _sign(key, sts))])


def container_sas(container: str, account=ACCOUNT, key=KEY, permissions="racwdl",
                  expiry=EXPIRY, version=VERSION) -> str:
    """Service SAS on a container (sr=c); string-to-sign for sv >= 2020-12-06:
    sp\\nst\\nse\\n/blob/<account>/<container>\\nsi\\nsip\\nspr\\nsv\\nsr\\nsnapshot\\nses\\nrscc\\nrscd\\nrsce\\nrscl\\nrsct"""
    resource = f"/blob/{account}/{container}"
    sts = "\n".join([permissions, "", expiry, resource, "", "", "", version, "c", "", "",
                     "", "", "", "", ""])
    return _encode([("sv", version), ("sr", "c"), ("sp", permissions), ("se", expiry),
                    ("sig", _sign(key, sts))])


if __name__ == "__main__":
    if len(sys.argv) >= 2 and sys.argv[1] == "account":
        print(account_sas())
    elif len(sys.argv) >= 3 and sys.argv[1] == "container":
        print(container_sas(sys.argv[2]))
    else:
        sys.exit(__doc__)
