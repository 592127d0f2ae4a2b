# -*- coding: utf-8 -*-
# Copyright: contributors to pgops.backup
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The offsite copy of finished logical and base backups: an S3 bucket over verified TLS, uploaded in parts
with each part's MD5 checked by the store, the whole object's ETag compared with the one computed here, and
the local retention applied to the bucket too.

Objects: ``<prefix>/<kind>/<label>/<path>``; the manifest goes last, so a label without one in the bucket is
an upload that did not finish. Each object carries its sha256 as metadata.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import hashlib
import json
import os

from ansible_collections.pgops.backup.plugins.module_utils.drivers import backup_sets


class OffsiteError(Exception):
    pass


def expected_etag(path, part_size):
    """The ETag S3 gives an unencrypted object uploaded as this module does: the MD5 of a single-part object,
    or the MD5 of the parts' MD5s and '-<parts>' of a multipart one."""
    size = os.path.getsize(path)
    digests = []
    with open(path, "rb") as handle:
        if size <= part_size:
            return hashlib.md5(handle.read()).hexdigest()
        for chunk in iter(lambda: handle.read(part_size), b""):
            digests.append(hashlib.md5(chunk).digest())
    return "%s-%d" % (hashlib.md5(b"".join(digests)).hexdigest(), len(digests))


def _md5_header(data):
    return base64.b64encode(hashlib.md5(data).digest()).decode("ascii")


def client(settings, credentials):
    import boto3  # imported here: only runs with an offsite copy need boto3 on the host
    from botocore.config import Config

    return boto3.client(
        "s3", endpoint_url=settings["endpoint"], region_name=settings["region"],
        aws_access_key_id=credentials["access_key"], aws_secret_access_key=credentials["secret_key"],
        verify=settings.get("ca_file") or True,
        config=Config(s3={"addressing_style": "path" if settings["uri_style"] == "path" else "virtual"},
                      retries={"max_attempts": 5, "mode": "standard"}))


def read_credentials(path):
    with open(path) as handle:
        return json.load(handle)


class Offsite(object):
    def __init__(self, settings, s3):
        self.bucket = settings["bucket"]
        self.prefix = settings["prefix"].strip("/")
        self.part_size = settings["part_size"]
        self.s3 = s3

    def key(self, kind, label, path=""):
        return "/".join(part for part in (self.prefix, kind, label, path) if part)

    def upload_file(self, path, key, sha256):
        size = os.path.getsize(path)
        metadata = {"sha256": sha256}
        with open(path, "rb") as handle:
            if size <= self.part_size:
                data = handle.read()
                self.s3.put_object(Bucket=self.bucket, Key=key, Body=data, ContentMD5=_md5_header(data),
                                   Metadata=metadata)
            else:
                self._multipart(handle, key, metadata)
        etag = self.s3.head_object(Bucket=self.bucket, Key=key)["ETag"].strip('"')
        if etag != expected_etag(path, self.part_size):
            raise OffsiteError("s3://%s/%s: the stored object differs from %s (ETag %s)" % (self.bucket, key, path,
                                                                                            etag))

    def _multipart(self, handle, key, metadata):
        upload = self.s3.create_multipart_upload(Bucket=self.bucket, Key=key, Metadata=metadata)["UploadId"]
        parts = []
        try:
            for number, chunk in enumerate(iter(lambda: handle.read(self.part_size), b""), 1):
                answer = self.s3.upload_part(Bucket=self.bucket, Key=key, UploadId=upload, PartNumber=number,
                                             Body=chunk, ContentMD5=_md5_header(chunk))
                parts.append({"PartNumber": number, "ETag": answer["ETag"]})
            self.s3.complete_multipart_upload(Bucket=self.bucket, Key=key, UploadId=upload,
                                              MultipartUpload={"Parts": parts})
        except Exception:
            self.s3.abort_multipart_upload(Bucket=self.bucket, Key=key, UploadId=upload)
            raise

    def upload_backup(self, kind, directory, manifest):
        """Every file of the manifest, then the manifest itself; returns the number of objects."""
        for entry in manifest["files"]:
            self.upload_file(os.path.join(directory, entry["path"]), self.key(kind, manifest["label"], entry["path"]),
                             entry["sha256"])
        path = os.path.join(directory, backup_sets.MANIFEST)
        self.upload_file(path, self.key(kind, manifest["label"], backup_sets.MANIFEST), backup_sets.sha256_of(path))
        return len(manifest["files"]) + 1

    def labels(self, kind):
        """{label: {'complete': bool, 'keys': [...]}} of a kind in the bucket."""
        found = {}
        base = self.key(kind, "") + "/"
        for page in self.s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=base):
            for obj in page.get("Contents", []):
                label, dummy, rest = obj["Key"][len(base):].partition("/")
                entry = found.setdefault(label, {"complete": False, "keys": []})
                entry["keys"].append(obj["Key"])
                entry["complete"] = entry["complete"] or rest == backup_sets.MANIFEST
        return found

    def apply_retention(self, kind, retention, now, current):
        """Remove what retention lets go in the bucket, and uploads that never finished (any label without a
        manifest but the current one: runs of a kind are serialized, so no other upload is under way)."""
        labels = self.labels(kind)
        complete = [label for label, entry in labels.items()
                    if entry["complete"] and backup_sets.LABEL_RE.match(label)]
        doomed = backup_sets.expired_labels(complete, retention, now)
        doomed += [label for label, entry in labels.items()
                   if not entry["complete"] and label != current and backup_sets.LABEL_RE.match(label)]
        for label in sorted(doomed):
            keys = labels[label]["keys"]
            # the manifest first, so a half-deleted backup never looks complete
            keys.sort(key=lambda k: not k.endswith("/" + backup_sets.MANIFEST))
            for key in keys:
                self.s3.delete_object(Bucket=self.bucket, Key=key)
        return sorted(doomed)
