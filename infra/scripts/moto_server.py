"""moto in server mode, with TransactWriteItems' rollback copy made proportional to the
transaction instead of to the table.

moto (5.x) deep-copies every table a transaction touches, once per item in the transaction,
before applying it, so it can put the copy back if the transaction is cancelled. Storecast
writes each batch outcome and its delivery counters in one transaction, so the local stack's
cost per outcome grew with the delivery table: `make demo` spent most of its time in those
copies. Here the copy shares every item with the live table except the items the transaction
names, which are deep-copied; a cancelled transaction still leaves the table exactly as it was.

And with DynamoDB's atomicity: moto's server is threaded and its DynamoDB backend takes no lock,
so two concurrent writes to one item could interleave (an UpdateItem reads `used`, another
writes it, the first writes its stale sum: one of them is lost), and a cancelled transaction
put back a table copy taken before a concurrent write to it. DynamoDB applies each write to an
item atomically and isolates transactions; here every DynamoDB read and write holds one lock,
so they are applied one at a time, as if serialised per item.

Run it as moto_server: `python infra/scripts/moto_server.py -H 127.0.0.1 -p PORT`.
"""

import copy
import sys
import threading

from moto.dynamodb import models as dynamodb_models
from moto.dynamodb.models.dynamo_type import DynamoType
from moto.dynamodb.models.table import Table
from moto.server import main

_pending = threading.local()


def _key_of(table, operation):
    if "Key" in operation:
        return operation["Key"]
    item = operation.get("Item", {})
    key = {table.hash_key_attr: item.get(table.hash_key_attr)}
    if table.range_key_attr is not None:
        key[table.range_key_attr] = item.get(table.range_key_attr)
    return key


def _rollback_copy(table, keys):
    """A table object that shares the live table's items except those under `keys`."""
    backup = copy.copy(table)
    backup.items = copy.copy(table.items)
    for key in keys:
        hash_attr = key.get(table.hash_key_attr)
        if hash_attr is None:
            continue
        hash_value = DynamoType(hash_attr)
        if hash_value not in table.items:
            continue
        if table.range_key_attr is None:
            backup.items[hash_value] = copy.deepcopy(table.items[hash_value])
            continue
        range_attr = key.get(table.range_key_attr)
        if backup.items[hash_value] is table.items[hash_value]:
            backup.items[hash_value] = dict(table.items[hash_value])
        if range_attr is None:
            continue
        range_value = DynamoType(range_attr)
        if range_value in table.items[hash_value]:
            backup.items[hash_value][range_value] = copy.deepcopy(
                table.items[hash_value][range_value]
            )
    return backup


class _CopyForTransactions:
    """Stands in for the `copy` module inside moto's DynamoDB backend: a table about to be
    transacted on is copied by the keys the transaction names."""

    def __getattr__(self, name):
        return getattr(copy, name)

    @staticmethod
    def deepcopy(value, memo=None):
        backups = getattr(_pending, "backups", None)
        if isinstance(value, Table) and backups is not None and id(value) in backups:
            return backups[id(value)]
        return copy.deepcopy(value, memo)


_transact_write_items = dynamodb_models.DynamoDBBackend.transact_write_items


def transact_write_items(self, transact_items):
    keys_by_table = {}
    for entry in transact_items:
        for operation in entry.values():
            table = self.tables.get(operation.get("TableName"))
            if table is not None:
                keys_by_table.setdefault(id(table), (table, []))[1].append(
                    _key_of(table, operation)
                )
    _pending.backups = {
        table_id: _rollback_copy(table, keys)
        for table_id, (table, keys) in keys_by_table.items()
    }
    try:
        return _transact_write_items(self, transact_items)
    finally:
        _pending.backups = None


# Reentrant: a transaction applies its items through `put_item`, `update_item`, ...
_dynamodb_lock = threading.RLock()


def _serialised(operation):
    def run(*args, **kwargs):
        with _dynamodb_lock:
            return operation(*args, **kwargs)

    run.__name__ = operation.__name__
    run.__doc__ = operation.__doc__
    return run


dynamodb_models.copy = _CopyForTransactions()
dynamodb_models.DynamoDBBackend.transact_write_items = transact_write_items
for _name in (
    "put_item",
    "update_item",
    "delete_item",
    "get_item",
    "query",
    "scan",
    "transact_write_items",
):
    setattr(
        dynamodb_models.DynamoDBBackend,
        _name,
        _serialised(getattr(dynamodb_models.DynamoDBBackend, _name)),
    )

if __name__ == "__main__":
    sys.exit(main())
