"""The boto3 S3 client every service uses, built from settings."""

from typing import Any

import boto3
from botocore.config import Config

from plumbing.settings import S3Settings


def s3_client(settings: S3Settings) -> Any:
    """An S3 client for ``settings.s3_endpoint`` with path-style addressing.

    Path-style is what local S3 servers expect; checksums are only sent when
    an operation requires one, since S3 clones may not know the newer ones.
    """
    access_key = settings.s3_access_key.get_secret_value() if settings.s3_access_key else None
    secret_key = settings.s3_secret_key.get_secret_value() if settings.s3_secret_key else None
    return boto3.client(
        "s3",
        endpoint_url=settings.s3_endpoint,
        region_name=settings.s3_region,
        aws_access_key_id=access_key,
        aws_secret_access_key=secret_key,
        config=Config(
            s3={"addressing_style": "path"},
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
            retries={"max_attempts": 3, "mode": "standard"},
            connect_timeout=5,
            read_timeout=30,
        ),
    )
