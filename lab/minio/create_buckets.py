"""Creates the lab's buckets on MinIO over TLS (the lab CA is trusted system-wide on the host).

Credentials come from the environment, never from the command line.
"""
import os
import sys

import boto3
from botocore.exceptions import ClientError

s3 = boto3.client(
    "s3",
    endpoint_url=os.environ["LAB_S3_ENDPOINT"],
    aws_access_key_id=os.environ["LAB_S3_ACCESS_KEY"],
    aws_secret_access_key=os.environ["LAB_S3_SECRET_KEY"],
    region_name="us-east-1",
    verify="/etc/ssl/certs/ca-certificates.crt",
)
created = []
for bucket in sys.argv[1:]:
    try:
        s3.head_bucket(Bucket=bucket)
    except ClientError:
        s3.create_bucket(Bucket=bucket)
        created.append(bucket)
print("created: " + " ".join(created) if created else "unchanged")
