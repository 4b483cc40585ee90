#!/usr/bin/env bash
# The volume plumbing modules, real operations in two guests (through tests/vm/plumb):
# thin volumes; LUKS2 format with a given offset, header read, open, wrong key;
# a tgt export with CHAP and ACL imported by the other guest, refused with a wrong
# secret and from an initiator not admitted; the destination formatted with the
# source's layout; a dm-clone over the imported decrypted source, hydrated and
# swapped to linear; a clone over a bigger source refused naming both sizes.
# Then workerd in both guests: they reach each other over mutual TLS
# (--check), and migratectl from one creates, lists and deletes an encrypted
# volume on the other (idempotent, a conflict refused).
source "$(dirname "$0")/lib.sh"
VM_GUEST="$VM_HERE/guest/plumbing.sh"
t0=$SECONDS
vm_setup
vm_boot g1 1 && vm_boot g2 2 || exit 1
vm_wait_ready g1 && vm_wait_ready g2 || exit 1

SECRET=$(head -c 6 /dev/urandom | od -An -tx1 | tr -d ' \n')  # 12 characters, as CHAP wants
vm_check g1 90 "g1: modules (dm-clone built out of tree among them), thin pool" plumb_pool_setup
vm_check g2 90 "g2: modules, thin pool" plumb_pool_setup

vm_check g1 60 "lv-create, idempotent, conflict refused, listed, grown" "plumb_lv_create"

vm_check g1 120 "LUKS2 with a 4 MiB offset: header, open, data, wrong key, non-LUKS" "plumb_luks"

vm_check g1 60 "export over tgt: read-only LUN, CHAP, ACL; idempotent" "plumb_export $SECRET"

vm_check g2 60 "login with a wrong CHAP secret refused" "plumb_wrong_chap_refused"

vm_check g2 60 "login from an initiator that was not admitted refused" "plumb_intruder_refused $SECRET"

cp "$VM_RUN/g1/shared/src.key" "$VM_RUN/g2/shared/src.key"
PLAIN=$(cat "$VM_RUN/g1/shared/plain.sum")  # what g1 wrote to vol-1
vm_check g2 120 "login with CHAP, destination formatted with the source's layout, clone created" "plumb_clone_created $SECRET $PLAIN"

# What the error handler does to a disk it gives up on, done by hand: the
# kernel fails every read until someone sets it running again.
vm_check g2 60 "a source disk set offline fails reads until revived" "plumb_offline_disk"

vm_check g2 60 "a clone over a bigger source is refused, naming both sizes" "plumb_bigger_source_refused"

vm_check g2 600 "hydration tracked to completion, swapped to linear under the same node" "plumb_hydrate_and_swap $PLAIN"

vm_check g1 30 "no initiator left after the logout; unexport, idempotent" "plumb_unexport"

# Each guest runs workerd; they reach each other over the private link with mutual TLS.
pki=$VM_RUN/pki
"$VM_REPO/deploy/tls/make-certs.sh" ca "$pki" && "$VM_REPO/deploy/tls/make-certs.sh" issue "$pki" g1 &&
  "$VM_REPO/deploy/tls/make-certs.sh" issue "$pki" g2 && "$VM_REPO/deploy/tls/make-certs.sh" issue "$pki" operator ||
  vm_fail "make-certs"
for i in 1 2; do
  g=g$i o=g$((3 - i))
  cp -r "$pki" "$VM_RUN/$g/shared/tls"
  printf 'worker = "%s"\nlisten = "169.254.0.%s:7443"\ndata_dir = "/var/lib/volmigrate"\n[tls]\nca = "/shared/tls/ca.crt"\ncert = "/shared/tls/%s.crt"\nkey = "/shared/tls/%s.key"\n[[peers]]\nname = "%s"\naddress = "169.254.0.%s:7443"\n' \
    "$g" "$i" "$g" "$g" "$o" "$((3 - i))" > "$VM_RUN/$g/shared/workerd.toml"
  # Only g1 serves volumes from its pool (with the test consumer as its hooks):
  # g2 serves without storage.
  [ $g = g1 ] && printf '[storage]\nvolume_group = "vg0"\nthin_pool = "pool"\npbkdf = "pbkdf2"\npbkdf_iterations = 1000\n[migration]\nconsumer_start = "%s"\nconsumer_stop = "%s"\n' \
    "$VM_HERE/guest/consumer-start" "$VM_HERE/guest/consumer-stop" >> "$VM_RUN/$g/shared/workerd.toml"
  vm_check $g 30 "$g starts workerd" "plumb_start_workerd"
done
vm_check g1 30 "workerd g1 reaches its peer g2 over mutual TLS (--check)" \
  "$VM_BUILD/workerd/workerd -c /shared/workerd.toml --check"

vm_check g2 120 "migratectl from g2 creates, lists and deletes an encrypted volume on g1" "plumb_volume_lifecycle"
# A raw volume (no filesystem): the test consumer writes blocks from 640 MiB on.
vm_check g2 120 "migratectl attaches a volume on g1 (twice: nothing changes), which it refuses to delete in use" "plumb_attach"
vm_check g1 60 "g1: one consumer runs on the attached volume and writes" "plumb_consumer_writes"
vm_check g2 120 "migratectl detaches it (twice), then deletes it" "plumb_detach"
vm_check g1 30 "g1: the consumer stopped before the volume closed: no writer, no mapping, no write error" "plumb_consumer_stopped"

vm_log "plumbing test $((SECONDS - t0))s in all"
vm_finish
