"""A visitor counter as people write one for Lambda in Python, atomic:
one UpdateItem ADD with ReturnValues UPDATED_NEW. It answers the
project's contract, {"path": P, "count": N}, with no statusCode: API
Gateway's payload format 2.0 makes that a 200 JSON answer."""
import json
import os

import boto3

table = boto3.resource("dynamodb").Table(os.environ.get("TABLE_NAME", "visitor_count"))


def refuse(status, code, message):
    return {"statusCode": status, "body": json.dumps({"error": code, "message": message})}


def handler(event, _context):
    method = event["requestContext"]["http"]["method"]
    path = (event.get("queryStringParameters") or {}).get("path")
    if not path or not path.startswith("/"):
        return refuse(400, "invalid_path", "path is missing or does not start with /")
    if method == "GET":
        item = table.get_item(Key={"path": path}, ConsistentRead=True).get("Item")
        return {"path": path, "count": int(item["count"]) if item else 0}
    if method == "POST":
        out = table.update_item(
            Key={"path": path},
            UpdateExpression="ADD #count :one",
            ExpressionAttributeNames={"#count": "count"},
            ExpressionAttributeValues={":one": 1},
            ReturnValues="UPDATED_NEW",
        )
        return {"path": path, "count": int(out["Attributes"]["count"])}
    return refuse(405, "method_not_allowed", "use GET or POST")
