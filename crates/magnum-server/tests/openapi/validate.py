"""Checks magnum-rs's OpenAPI document with third-party validators.

usage: validate.py DOCUMENT SAMPLES
DOCUMENT is /v1/openapi.json as served; SAMPLES a JSON list of real answers
({"method", "path", "status", "body"}, path as the document spells it). The document must be
valid OpenAPI 3.1 (openapi-spec-validator) and every answer must match the schema its
operation declares for its status, or the error schema (jsonschema, draft 2020-12).
"""
import json
import sys

from jsonschema import Draft202012Validator
from openapi_spec_validator import validate
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

doc = json.load(open(sys.argv[1]))
samples = json.load(open(sys.argv[2]))
validate(doc)
registry = Registry().with_resource("urn:magnum-openapi", Resource.from_contents(doc, default_specification=DRAFT202012))
failures = []
for s in samples:
    where = f'{s["method"].upper()} {s["path"]} -> {s["status"]}'
    operation = doc["paths"].get(s["path"], {}).get(s["method"])
    if operation is None:
        failures.append(f"{where}: no such operation in the document")
        continue
    responses = operation["responses"]
    declared = responses.get(str(s["status"]))
    if declared is None:
        failures.append(f"{where}: status not declared (declared: {sorted(responses)})")
        continue
    content = declared.get("content")
    if content is None:
        if s["body"] is not None:
            failures.append(f"{where}: declared without a body, answered {json.dumps(s['body'])[:200]}")
        continue
    ref = content["application/json"]["schema"].get("$ref", "")
    schema = {"$ref": "urn:magnum-openapi" + ref} if ref else content["application/json"]["schema"]
    for e in Draft202012Validator(schema, registry=registry).iter_errors(s["body"]):
        failures.append(f"{where}: {'/'.join(map(str, e.absolute_path))}: {e.message[:300]}")
print(f"{len(samples)} answers checked against the document ({len(doc['paths'])} paths)")
for f in failures:
    print("MISMATCH", f)
sys.exit(1 if failures else 0)
