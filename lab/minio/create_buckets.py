"""Creates the lab's buckets on MinIO over TLS (the lab CA is trusted system-wide on the host).

Credentials come from a root-only file the lab's prepare step wrote, never from a command line.
"""
import json
import sys

import boto3
from botocore.exceptions import ClientError

with open("/root/.pgops-lab-s3.json") as handle:
    lab = json.load(handle)
s3 = boto3.client(
    "s3",
    endpoint_url=lab["endpoint"],
    aws_access_key_id=lab["access_key"],
    aws_secret_access_key=lab["secret_key"],
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
