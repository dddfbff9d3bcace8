"""Validates JSON lines against a JSON Schema with the `jsonschema` package.

Usage: validate_lines.py SCHEMA < lines. Prints one JSON object: the number of lines
checked and, for each invalid line, its number, the line and the validator's messages.
Exits 0 when every line is valid, 1 otherwise.
"""

import json
import sys

import jsonschema

with open(sys.argv[1]) as f:
    schema = json.load(f)
validator_class = jsonschema.validators.validator_for(schema)
validator_class.check_schema(schema)
validator = validator_class(schema)

errors = []
count = 0
for number, line in enumerate(sys.stdin, start=1):
    line = line.rstrip("\n")
    if not line:
        continue
    count += 1
    try:
        instance = json.loads(line)
    except ValueError as e:
        errors.append({"line": number, "text": line, "errors": [f"not JSON: {e}"]})
        continue
    found = [e.message for e in validator.iter_errors(instance)]
    if found:
        errors.append({"line": number, "text": line, "errors": found})
print(json.dumps({"checked": count, "validator": validator_class.__name__, "invalid": errors}))
sys.exit(1 if errors else 0)
