#!/usr/bin/env bash
# Live migration between two guests, end to end through workerd and migratectl:
#  - bad input refused with a clear error and nothing changed: an unknown worker,
#    a missing volume, a destination without room, a peer whose certificate is
#    from another CA;
#  - a volume formatted with a 4 MiB LUKS2 data offset (this cryptsetup defaults
#    to 16 MiB) migrates with its consumer writing on the destination during
#    hydration; abort is refused once booted; the link between the guests is cut
#    for longer than the iSCSI NOP timeout mid-hydration and restored: I/O waits,
#    hydration resumes; after cutover and retirement of the source, every
#    checksum (source files and files written since) verifies; the retired
#    copy is listed and expires on time across a workerd restart;
#  - an abort before boot leaves the source volume open with its data, no export.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/workers.sh"
VM_GUEST+=" $VM_HERE/guest/migration.sh"
t0=$SECONDS
workers_boot 3G 2G
# w3 is a peer of w1 whose certificate comes from a CA w1 does not trust. A
# retired copy on w1 expires 90 s after its migration ended.
WORKERS_MIGRATION='retire_after = "90s"' workers_config w1 1 '[[peers]]
name = "w3"
address = "169.254.0.2:7444"'
# Held to 2 MiB/s, so that the ~80 MiB the source holds take about 40 s and
# the link cut below begins mid-copy: unheld, the copy of the ciphertext is
# done in a few seconds.
WORKERS_MIGRATION='hydration_max_bytes_per_second = 2097152' workers_config w2 2
"$VM_REPO/deploy/tls/make-certs.sh" ca "$VM_RUN/foreign" >/dev/null && "$VM_REPO/deploy/tls/make-certs.sh" issue "$VM_RUN/foreign" w3 >/dev/null
cp -r "$VM_RUN/foreign" "$VM_RUN/w2/shared/foreign"
cat > "$VM_RUN/w2/shared/w3.toml" <<TOML
worker = "w3"
listen = "169.254.0.2:7444"
data_dir = "/tmp/w3"
[tls]
ca = "/shared/foreign/ca.crt"
cert = "/shared/foreign/w3.crt"
key = "/shared/foreign/w3.key"
TOML
WORKERS_POOL=1600M workers_start w1 || exit 1
WORKERS_POOL=900M workers_start w2 || exit 1
vm_run w2 30 "mig_start_foreign_w3" || exit 1

vm_check w1 300 "w1: vol-1 (4 MiB LUKS2 offset, 48 MiB of files, consumer running); 'big' with 950 MiB allocated" "mig_make_volumes"

vm_check w1 120 "bad input refused with a clear error, nothing changed" "mig_bad_input_refused"

vm_run w1 20 "ctl --json volume show vol-1" | tee "$VM_RUN/vol-1.json" >/dev/null
vm_log "migrating vol-1 to w2: the link is cut for 25 s during hydration"
vm_run w1 30 "mig_start_vol1" || vm_fail "migrate vol-1 started"
MIG1=$(cat "$VM_RUN/w1/shared/mig-1")
vm_check w1 300 "vol-1 reaches HYDRATING: consumer booted on w2 with a blackout recorded" "mig_reaches_hydrating $MIG1"
vm_check w1 30 "abort after boot is refused" "mig_abort_after_boot_refused $MIG1"
vm_check w1 120 "mid-hydration, the link is cut for 25 s (longer than the NOP timeout), then restored" "mig_cut_the_link $MIG1"
vm_check w2 20 "during the cut the consumer's I/O waited: the writer is alive with no error" "mig_consumer_waited"
vm_check w1 600 "vol-1 completes: DONE on both sides" "mig_completes $MIG1"
vm_check w1 30 "w1: no export left, the source copy retired (kept, out of the volume list)" "mig_source_retired $MIG1"
vm_check w1 30 "w1: migratectl retired lists the copy, expiring 90 s after its migration ended" "mig_retired_listed $MIG1"
workers_stop w1 && workers_start w1 || { vm_fail "workerd on w1 restarted"; exit 1; }
vm_check w1 200 "w1: the copy expires on time across a workerd restart: its LV and key gone" "mig_retired_expires $MIG1"
vm_check w2 30 "w2: linear map under the live device, no session, no clone, header offset 4 MiB" "mig_destination_is_linear"
vm_check w2 300 "every byte: fsck clean, source files and files written on w2 during hydration verify" \
  "volume_verify vol-1"

vm_check w1 300 "w1: vol-2 (8 MiB of files, consumer running)" "volume_make vol-2 128 8"
vm_check w1 120 "abort before boot (held in FENCING) rolls back" "mig_abort_before_boot"
vm_check w1 120 "after the abort: no export, vol-2 open with its consumer, data intact; nothing on w2" "mig_after_abort"

vm_log "migration test $((SECONDS - t0))s in all"
vm_finish
