"""Coverage of a fuzzing run: for each operation of the OpenAPI document, the requests the
server counted (its `ils_http_requests_total` metric, by method, route template and status),
grouped into 2xx, 4xx and 5xx. Usage: fuzz_coverage.py openapi.json metrics.txt"""

import json
import re
import sys
from collections import defaultdict

doc = json.load(open(sys.argv[1]))
counts = defaultdict(lambda: defaultdict(int))
line = re.compile(r'^ils_http_requests_total\{(?P<labels>.*)\} (?P<n>\d+)$')
for text in open(sys.argv[2]):
    m = line.match(text)
    if not m:
        continue
    labels = dict(re.findall(r'(\w+)="([^"]*)"', m.group("labels")))
    klass = f"{labels['status'][0]}xx"
    counts[(labels["method"].upper(), labels["route"])][klass] += int(m.group("n"))

rows, reached, written = [], 0, 0
for path, item in sorted(doc["paths"].items()):
    for method, op in item.items():
        c = counts.get((method.upper(), path), {})
        ok = c.get("2xx", 0)
        reached += ok > 0
        if method in ("post", "put", "patch", "delete") and ok:
            written += 1
        rows.append((op["operationId"], method.upper(), path, ok, c.get("4xx", 0), c.get("5xx", 0)))

width = max(len(r[0]) for r in rows)
print(f"{'operation':<{width}}  {'method':<6}  {'2xx':>6} {'4xx':>6} {'5xx':>4}  path")
for op_id, method, path, ok, client, server in rows:
    print(f"{op_id:<{width}}  {method:<6}  {ok:>6} {client:>6} {server:>4}  {path}")
mutations = sum(1 for r in rows if r[1] in ("POST", "PUT", "PATCH", "DELETE"))
total5 = sum(r[5] for r in rows)
print(
    f"\n{reached}/{len(rows)} operations answered 2xx at least once; "
    f"{written}/{mutations} writing operations succeeded at least once; {total5} answers were 5xx"
)
sys.exit(1 if total5 else 0)
