"""The local S3 server: reads, writes, conditional writes, and data across restarts."""

import pytest
from botocore.exceptions import ClientError

from cli.settings import Settings
from plumbing.s3 import s3_client
from stack import local, supervisor
from stack.ports import port_is_free


def _status_code(error: ClientError) -> int:
    return int(error.response["ResponseMetadata"]["HTTPStatusCode"])


def test_object_written_is_read_back(stack: Settings, unique: str) -> None:
    s3 = s3_client(stack)
    s3.put_object(Bucket=stack.s3_bucket, Key=f"test/{unique}/a.txt", Body=b"hello")
    body = s3.get_object(Bucket=stack.s3_bucket, Key=f"test/{unique}/a.txt")["Body"].read()
    assert body == b"hello"


def test_if_none_match_creates_once_then_refuses_with_412(stack: Settings, unique: str) -> None:
    s3 = s3_client(stack)
    key = f"test/{unique}/immutable.json"
    s3.put_object(Bucket=stack.s3_bucket, Key=key, Body=b"first", IfNoneMatch="*")
    with pytest.raises(ClientError) as refused:
        s3.put_object(Bucket=stack.s3_bucket, Key=key, Body=b"second", IfNoneMatch="*")
    assert _status_code(refused.value) == 412
    assert s3.get_object(Bucket=stack.s3_bucket, Key=key)["Body"].read() == b"first"


def test_if_match_writes_on_current_etag_and_refuses_a_stale_one(
    stack: Settings, unique: str
) -> None:
    s3 = s3_client(stack)
    key = f"test/{unique}/slots.json"
    first = s3.put_object(Bucket=stack.s3_bucket, Key=key, Body=b'{"generation": 1}')
    second = s3.put_object(
        Bucket=stack.s3_bucket, Key=key, Body=b'{"generation": 2}', IfMatch=first["ETag"]
    )
    with pytest.raises(ClientError) as refused:
        s3.put_object(
            Bucket=stack.s3_bucket, Key=key, Body=b'{"generation": 3}', IfMatch=first["ETag"]
        )
    assert _status_code(refused.value) == 412
    current = s3.get_object(Bucket=stack.s3_bucket, Key=key)
    assert current["Body"].read() == b'{"generation": 2}'
    assert current["ETag"] == second["ETag"]


def test_object_survives_an_s3_server_restart(stack: Settings, unique: str) -> None:
    key = f"test/{unique}/durable.bin"
    s3_client(stack).put_object(Bucket=stack.s3_bucket, Key=key, Body=b"\x00durable\xff")
    process = local.s3_process(stack)

    assert supervisor.stop(process)
    assert supervisor.status(process).state == "stopped"
    assert port_is_free(stack.s3_port)
    supervisor.start(process)

    body = s3_client(stack).get_object(Bucket=stack.s3_bucket, Key=key)["Body"].read()
    assert body == b"\x00durable\xff"
