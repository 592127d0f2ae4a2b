# -*- coding: utf-8 -*-
# Copyright: contributors to pgops.backup
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The offsite copy against an in-memory S3 that computes ETags as S3 does: parts, verification, retention."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import hashlib
import os

import pytest

from ansible_collections.pgops.backup.plugins.module_utils.drivers import backup_sets
from ansible_collections.pgops.backup.plugins.module_utils.dumps import offsite

NOW = 1795677600
PART = 5


class FakeS3(object):
    """Objects in a dict; rejects a part whose Content-MD5 does not match, like S3; corrupt=True stores other bytes."""

    def __init__(self, corrupt=False):
        self.objects, self.uploads, self.corrupt = {}, {}, corrupt

    @staticmethod
    def _check(body, md5):
        assert base64.b64decode(md5) == hashlib.md5(body).digest(), "BadDigest"

    def put_object(self, Bucket, Key, Body, ContentMD5, Metadata):
        self._check(Body, ContentMD5)
        stored = Body + b"x" if self.corrupt else Body
        self.objects[Key] = (stored, hashlib.md5(stored).hexdigest(), Metadata)

    def create_multipart_upload(self, Bucket, Key, Metadata):
        self.uploads[Key] = []
        return {"UploadId": Key}

    def upload_part(self, Bucket, Key, UploadId, PartNumber, Body, ContentMD5):
        self._check(Body, ContentMD5)
        self.uploads[UploadId].append(Body)
        return {"ETag": '"%s"' % hashlib.md5(Body).hexdigest()}

    def complete_multipart_upload(self, Bucket, Key, UploadId, MultipartUpload):
        parts = self.uploads.pop(UploadId)
        etag = "%s-%d" % (hashlib.md5(b"".join(hashlib.md5(p).digest() for p in parts)).hexdigest(), len(parts))
        self.objects[Key] = (b"".join(parts), etag, {})

    def abort_multipart_upload(self, Bucket, Key, UploadId):
        self.uploads.pop(UploadId, None)

    def head_object(self, Bucket, Key):
        return {"ETag": '"%s"' % self.objects[Key][1]}

    def delete_object(self, Bucket, Key):
        del self.objects[Key]

    def get_paginator(self, name):
        fake = self

        class Paginator(object):
            def paginate(self, Bucket, Prefix):
                return [{"Contents": [{"Key": k} for k in sorted(fake.objects) if k.startswith(Prefix)]}]

        return Paginator()


def settings():
    return {"bucket": "b", "prefix": "/db1/", "part_size": PART}


def make_backup(root, started, files):
    os.makedirs(os.path.join(root, "logical"), exist_ok=True)
    backup = backup_sets.BackupSet(root, "logical", started)
    partial = backup.create()
    for path, data in files.items():
        with open(os.path.join(partial, path), "wb") as handle:
            handle.write(data)
    return backup.final, backup.finish(started + 1, "17.2")


def test_expected_etag_single_and_multipart(tmp_path):
    path = tmp_path / "f"
    path.write_bytes(b"abcdefghijkl")
    assert offsite.expected_etag(str(path), 100) == hashlib.md5(b"abcdefghijkl").hexdigest()
    parts = [b"abcde", b"fghij", b"kl"]
    assert offsite.expected_etag(str(path), 5) == "%s-3" % hashlib.md5(
        b"".join(hashlib.md5(p).digest() for p in parts)).hexdigest()


def test_upload_puts_every_file_then_the_manifest_with_sha256(tmp_path):
    final, manifest = make_backup(str(tmp_path), NOW, {"small": b"abc", "big": b"0123456789abc"})
    s3 = FakeS3()
    store = offsite.Offsite(settings(), s3)
    assert store.upload_backup("logical", final, manifest) == 3
    label = manifest["label"]
    assert sorted(s3.objects) == ["db1/logical/%s/%s" % (label, n) for n in ("big", "manifest.json", "small")]
    assert s3.objects["db1/logical/%s/big" % label][1].endswith("-3")  # went up in parts
    assert s3.objects["db1/logical/%s/small" % label][2] == {"sha256": hashlib.sha256(b"abc").hexdigest()}


def test_a_stored_object_that_differs_fails_the_copy(tmp_path):
    final, manifest = make_backup(str(tmp_path), NOW, {"small": b"abc"})
    with pytest.raises(offsite.OffsiteError, match="differs"):
        offsite.Offsite(settings(), FakeS3(corrupt=True)).upload_backup("logical", final, manifest)


def test_bucket_retention_keeps_the_newest_and_removes_unfinished_uploads(tmp_path):
    s3 = FakeS3()
    store = offsite.Offsite(settings(), s3)
    labels = []
    for days in (3, 2, 1):
        final, manifest = make_backup(str(tmp_path), NOW - days * 86400, {"f": b"data"})
        store.upload_backup("logical", final, manifest)
        labels.append(manifest["label"])
    s3.objects["db1/logical/20261101T000000Z/f"] = (b"x", "e", {})   # an upload that died before its manifest
    s3.objects["db1/logical/notes/readme"] = (b"x", "e", {})         # not ours: never touched
    removed = store.apply_retention("logical", {"count": 2, "max_age": None}, NOW, labels[-1])
    assert removed == sorted(["20261101T000000Z", labels[0]])
    assert sorted(set(k.split("/")[2] for k in s3.objects)) == sorted(labels[1:] + ["notes"])
