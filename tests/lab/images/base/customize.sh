#!/bin/sh
# mmdebstrap customize hook for fleetpatch-lab/base: $1 is the rootfs.
# Runs on the build host as root.
set -eu
root=$1
d=$(cd "$(dirname "$0")" && pwd)

install -m 0755 "$d/lab-init" "$root/usr/local/sbin/lab-init"
install -m 0755 "$d/reboot" "$root/usr/local/sbin/reboot"
install -m 0755 "$d/shutdown" "$root/usr/local/sbin/shutdown"
# Point the usual absolute paths at the shims too (minbase has no init system,
# so nothing else provides them; /sbin is /usr/sbin on merged-/usr bookworm).
for p in /usr/sbin/reboot /usr/sbin/shutdown; do
    rm -f "$root$p"
    ln -s "/usr/local/sbin/$(basename "$p")" "$root$p"
done
install -m 0644 "$d/apt-lab.conf" "$root/etc/apt/apt.conf.d/90fleetpatch-lab"
install -m 0644 "$d/sshd-lab.conf" "$root/etc/ssh/sshd_config.d/00-fleetpatch-lab.conf"

# Host keys are generated per container by lab-init.
rm -f "$root"/etc/ssh/ssh_host_*

# Users: fleet (passwordless sudo), fleetpw (sudo with password "labpass").
chroot "$root" useradd -m -s /bin/bash fleet
chroot "$root" useradd -m -s /bin/bash fleetpw
echo 'fleetpw:labpass' | chroot "$root" chpasswd
printf 'fleet ALL=(ALL:ALL) NOPASSWD: ALL\n' > "$root/etc/sudoers.d/fleet"
printf 'fleetpw ALL=(ALL:ALL) ALL\n' > "$root/etc/sudoers.d/fleetpw"
chmod 0440 "$root/etc/sudoers.d/fleet" "$root/etc/sudoers.d/fleetpw"
chroot "$root" visudo -c >/dev/null

echo fleetpatch-lab > "$root/etc/hostname"
: > "$root/etc/machine-id"

# mmdebstrap's cleanup only knows the caches apt is configured to use; with
# srcpkgcache disabled above, drop the one written during the bootstrap.
rm -f "$root"/var/cache/apt/*.bin
