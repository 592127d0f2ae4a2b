"""The lab is what the scenarios assume: PostgreSQL under systemd, SSH between hosts, MinIO over TLS. Proven on the
pgbackrest scenario's hosts (the lab they share with no other scenario), converged or not: nothing here depends
on the roles."""
import json
import os

import pytest
import testinfra.utils.ansible_runner

from labtest import host

INVENTORY = testinfra.utils.ansible_runner.AnsibleRunner(os.environ["MOLECULE_INVENTORY_FILE"])
PG_HOSTS = INVENTORY.get_hosts("postgresql")
EXPECTED_MAJOR = {"pg-bookworm": "15", "pg-trixie": "17"}
PAIRS = [("pg-trixie", "backup-trixie")]


@pytest.mark.parametrize("name", PG_HOSTS)
def test_postgresql_runs_under_systemd(name):
    major = EXPECTED_MAJOR[name]
    service = host(name).service(f"postgresql@{major}-main")
    assert service.is_running
    assert service.is_enabled
    version = host(name).check_output("sudo -u postgres psql -XAtc 'SHOW server_version_num'")
    assert version.startswith(major)


@pytest.mark.parametrize("name", PG_HOSTS)
def test_sample_data_is_loaded(name):
    count = host(name).check_output("sudo -u postgres psql -XAt -d shop -c 'SELECT count(*) FROM orders'")
    assert count == "20000"


@pytest.mark.parametrize("db,repo", PAIRS)
def test_repository_host_answers_ssh_from_database_host(db, repo):
    # ssh-keyscan proves sshd answers by name over the lab network; keys are the roles' business.
    keys = host(db).run(f"ssh-keyscan -T 5 -t ed25519 {repo}")
    assert keys.rc == 0, keys.stderr
    assert "ssh-ed25519" in keys.stdout


@pytest.mark.parametrize("name", PG_HOSTS)
def test_minio_object_round_trip_over_tls(name):
    # Credentials come from a root-only file that prepare wrote; boto3 verifies TLS with the system
    # store, which trusts the lab CA.
    script = """
import hashlib, json, os, boto3
lab = json.load(open('/root/.pgops-lab-s3.json'))
s3 = boto3.client('s3', endpoint_url=lab['endpoint'], region_name='us-east-1',
                  aws_access_key_id=lab['access_key'], aws_secret_access_key=lab['secret_key'],
                  verify='/etc/ssl/certs/ca-certificates.crt')
body = os.urandom(1 << 20)
key = 'lab-check/' + os.uname().nodename
s3.put_object(Bucket='pgops-lab', Key=key, Body=body)
back = s3.get_object(Bucket='pgops-lab', Key=key)['Body'].read()
s3.delete_object(Bucket='pgops-lab', Key=key)
print(json.dumps({'sent': hashlib.sha256(body).hexdigest(), 'read': hashlib.sha256(back).hexdigest()}))
"""
    result = host(name).run("python3 -c %s", script)
    assert result.rc == 0, result.stderr
    digests = json.loads(result.stdout)
    assert digests["sent"] == digests["read"]


@pytest.mark.parametrize("name", PG_HOSTS)
def test_minio_certificate_is_checked(name):
    # Trusted through the lab CA; refused (curl's 60: certificate problem) against another CA.
    h = host(name)
    assert h.run("curl -sS -o /dev/null https://minio:9000/minio/health/live").rc == 0
    h.check_output(
        "openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=other -keyout /tmp/other.key -out /tmp/other.crt"
    )
    # an empty capath too: Debian's curl also reads /etc/ssl/certs unless told otherwise
    h.check_output("mkdir -p /tmp/no-ca-dir")
    other = h.run("curl -sS -o /dev/null --cacert /tmp/other.crt --capath /tmp/no-ca-dir https://minio:9000/minio/health/live")
    assert other.rc == 60, other.stderr
