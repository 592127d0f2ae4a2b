#!/usr/bin/env bash
# Makes the lab's CA, a server certificate for the lab's HTTPS services (MinIO, the file server) and
# MinIO's credentials, once per machine, under $PGOPS_CACHE/pki (mode 0700). Hosts trust the CA, so no
# test ever turns certificate checks off.
source "$(dirname "$0")/lib.sh"

PKI="$PGOPS_CACHE/pki"
mkdir -p "$PKI" && chmod 700 "$PKI"
cd "$PKI" || exit 1
umask 077

if [ ! -s ca.crt ]; then
  log "creating the lab CA"
  openssl req -x509 -newkey rsa:3072 -nodes -days 3650 -subj '/CN=pgops.backup lab CA' \
    -keyout ca.key -out ca.crt -addext 'basicConstraints=critical,CA:TRUE' \
    -addext 'keyUsage=critical,keyCertSign,cRLSign' 2>/dev/null
fi

SAN='DNS:minio,DNS:files,DNS:localhost,IP:127.0.0.1'
if [ ! -s server.crt ] || ! grep -qx "$SAN" server.san 2>/dev/null; then
  log "issuing the lab server certificate ($SAN)"
  openssl req -newkey rsa:2048 -nodes -subj '/CN=minio' -keyout server.key -out server.csr 2>/dev/null
  openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 825 -out server.crt \
    -extfile <(printf 'subjectAltName=%s\nextendedKeyUsage=serverAuth\n' "$SAN") 2>/dev/null
  echo "$SAN" >server.san
  rm -f server.csr
fi

if [ ! -s minio-credentials.yml ]; then
  log "generating MinIO credentials"
  printf 'lab_minio_access_key: %s\nlab_minio_secret_key: %s\n' \
    "pgops$(openssl rand -hex 6)" "$(openssl rand -hex 24)" >minio-credentials.yml
fi
chmod 644 ca.crt server.crt
