"""The same counter written the way many published ones are: read the
item, add one, put it back. Two visits that read the same count both
write count + 1, so concurrent visits are lost; the load test must say
so (FAIL)."""
import json
import os

import boto3

table = boto3.resource("dynamodb").Table(os.environ.get("TABLE_NAME", "visitor_count"))


def read(path):
    item = table.get_item(Key={"path": path}, ConsistentRead=True).get("Item")
    return int(item["count"]) if item else 0


def handler(event, _context):
    method = event["requestContext"]["http"]["method"]
    path = (event.get("queryStringParameters") or {}).get("path")
    if not path or not path.startswith("/"):
        return {"statusCode": 400, "body": json.dumps({"error": "invalid_path", "message": "bad path"})}
    if method == "GET":
        return {"path": path, "count": read(path)}
    if method == "POST":
        count = read(path) + 1
        table.put_item(Item={"path": path, "count": count})
        return {"path": path, "count": count}
    return {"statusCode": 405, "body": json.dumps({"error": "method_not_allowed", "message": "use GET or POST"})}
