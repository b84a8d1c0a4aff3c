#!/usr/bin/env bash
# Installs what the tests need beyond scripts/install-deps.sh, skipping what is already there:
#
#   openssl, python3 (Debian packages): the tests make throwaway TLS certificates and run small Python servers
#   aiosmtpd 1.4.6 (PyPI, with pip): the SMTP server the notification tests deliver to
#
# Debian packages are installed only when missing (python3-pip only when python3 has no pip). aiosmtpd is
# installed with `python3 -m pip install` into the python3 on the PATH; on a Debian python3 that refuses
# system-wide installs (PEP 668), with --break-system-packages.
set -euo pipefail

as_root=()
if [ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null 2>&1; then
    as_root=(sudo)
fi

apt_install() {
    if ! command -v apt-get >/dev/null 2>&1; then
        echo "install-test-tools: no apt-get here; install $* yourself" >&2
        exit 1
    fi
    echo "install-test-tools: installing $*"
    "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update
    "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "$@"
}

missing=()
command -v openssl >/dev/null 2>&1 || missing+=(openssl)
command -v python3 >/dev/null 2>&1 || missing+=(python3)
if [ "${#missing[@]}" -gt 0 ]; then apt_install "${missing[@]}"; fi

if python3 -c 'import aiosmtpd' >/dev/null 2>&1; then
    echo "install-test-tools: openssl, python3 and aiosmtpd already installed"
    exit 0
fi

python3 -m pip --version >/dev/null 2>&1 || apt_install python3-pip

pip_as=()
# A pip of the system's python3 installs for root only as root.
case "$(command -v python3)" in
    /usr/bin/*) pip_as=("${as_root[@]}") ;;
esac
echo "install-test-tools: installing aiosmtpd from PyPI"
if ! "${pip_as[@]}" python3 -m pip install --quiet "aiosmtpd==1.4.6"; then
    "${pip_as[@]}" python3 -m pip install --quiet --break-system-packages "aiosmtpd==1.4.6"
fi
python3 -c 'import aiosmtpd'
