"""The local stack's moto patch (infra/scripts/moto_server.py) keeps TransactWriteItems atomic: a
cancelled transaction leaves nothing it wrote, in either table it touched; a committed one keeps
everything. Run against the endpoint in AWS_ENDPOINT_URL (`make integration` does)."""

import os
import uuid

import boto3
import botocore

dynamodb = boto3.client(
    "dynamodb", endpoint_url=os.environ["AWS_ENDPOINT_URL"], region_name="us-east-1"
)
ranged = f"rollback-ranged-{uuid.uuid4().hex}"
hashed = f"rollback-hashed-{uuid.uuid4().hex}"
dynamodb.create_table(
    TableName=ranged,
    KeySchema=[
        {"AttributeName": "pk", "KeyType": "HASH"},
        {"AttributeName": "sk", "KeyType": "RANGE"},
    ],
    AttributeDefinitions=[
        {"AttributeName": "pk", "AttributeType": "S"},
        {"AttributeName": "sk", "AttributeType": "S"},
    ],
    BillingMode="PAY_PER_REQUEST",
)
dynamodb.create_table(
    TableName=hashed,
    KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
    AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
    BillingMode="PAY_PER_REQUEST",
)


def key(pk, sk=None):
    key = {"pk": {"S": pk}}
    if sk is not None:
        key["sk"] = {"S": sk}
    return key


def increment(table, item_key):
    return {
        "Update": {
            "TableName": table,
            "Key": item_key,
            "UpdateExpression": "SET n = n + :one",
            "ExpressionAttributeValues": {":one": {"N": "1"}},
        }
    }


dynamodb.put_item(TableName=ranged, Item={**key("a", "1"), "n": {"N": "1"}})
dynamodb.put_item(TableName=ranged, Item={**key("a", "2"), "n": {"N": "1"}})
dynamodb.put_item(TableName=hashed, Item={**key("x"), "n": {"N": "1"}})

try:
    dynamodb.transact_write_items(
        TransactItems=[
            increment(ranged, key("a", "1")),
            {"Put": {"TableName": ranged, "Item": key("a", "3")}},
            {"Put": {"TableName": ranged, "Item": key("b", "1")}},
            increment(hashed, key("x")),
            {
                "ConditionCheck": {
                    "TableName": ranged,
                    "Key": key("a", "2"),
                    "ConditionExpression": "n = :two",
                    "ExpressionAttributeValues": {":two": {"N": "2"}},
                }
            },
        ]
    )
    raise SystemExit("the transaction should have been cancelled")
except botocore.exceptions.ClientError as error:
    assert error.response["Error"]["Code"] == "TransactionCanceledException", error

items = sorted(
    (item["pk"]["S"], item["sk"]["S"], item["n"]["N"])
    for item in dynamodb.scan(TableName=ranged)["Items"]
)
assert items == [("a", "1", "1"), ("a", "2", "1")], items
assert dynamodb.get_item(TableName=hashed, Key=key("x"))["Item"]["n"]["N"] == "1"

dynamodb.transact_write_items(
    TransactItems=[
        increment(ranged, key("a", "1")),
        {"Put": {"TableName": hashed, "Item": key("y")}},
    ]
)
assert dynamodb.get_item(TableName=ranged, Key=key("a", "1"))["Item"]["n"]["N"] == "2"
assert "Item" in dynamodb.get_item(TableName=hashed, Key=key("y"))
print("moto rollback: a cancelled transaction left nothing, a committed one everything")
