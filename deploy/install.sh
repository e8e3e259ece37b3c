#!/usr/bin/env bash
# Installs jutsu on a Debian or Ubuntu server, as root, from a checkout with a release build:
#
#   cargo build --release --locked && sudo deploy/install.sh
#
# It creates the service user `jutsu` (no login shell, no home), the tree /opt/jutsu
# (binary, config, the bundled bars, state/ and logs/ owned by the user, mode 0700), and
# /etc/jutsu/jutsu.env readable by the user only (0600), then installs and starts the
# systemd timers (trade at 12:49 and 15:49 New York, validate at 16:20, the login check on
# Sunday at 18:00, the weekly review at 19:00). An existing config or env file is never overwritten. Run it again after
# a new build to replace the binary.
#
# It refuses a binary built with test hooks (deploy/release-guard runs it first): every build
# that compiles the tests has them, `cargo test --release` included, and such a binary obeys
# a fake clock. `cargo build --release --locked` right before this script makes a good one.
#
# Options: --binary PATH (default target/release/jutsu of this checkout; a relative PATH is
#          taken from the current folder), --user NAME (default jutsu),
#          --root DIR (install under DIR instead of /, for an image or a test),
#          --no-useradd (the user exists already), --no-systemd (no units: use cron,
#          `jutsu schedule crontab`, or a container's scheduler),
#          --allow-test-hooks (jutsu's own tests only: install a binary built with test hooks,
#          and only under a --root other than /).
set -euo pipefail

binary=""
user=jutsu
root=""
useradd=1
systemd=1
allow_hooks=0
while [ $# -gt 0 ]; do
  case "$1" in
    --binary) binary="$2"; shift 2 ;;
    --user) user="$2"; shift 2 ;;
    --root) root="$2"; shift 2 ;;
    --no-useradd) useradd=0; shift ;;
    --no-systemd) systemd=0; shift ;;
    --allow-test-hooks) allow_hooks=1; shift ;;
    *) echo "install.sh: unknown option $1 (see the comment at the top)" >&2; exit 2 ;;
  esac
done
# Relative paths are the caller's, not this checkout's.
case "$binary" in "" | /*) ;; *) binary="$PWD/$binary" ;; esac
case "$root" in "" | /*) ;; *) root="$PWD/$root" ;; esac
cd "$(dirname "$0")/.."
binary=${binary:-target/release/jutsu}
if [ ! -x "$binary" ]; then
  echo "install.sh: no binary at $binary: run \`cargo build --release --locked\` first" >&2
  exit 1
fi
if [ "$allow_hooks" = 1 ]; then
  if [ -z "$root" ] || [ "$(realpath -m "$root")" = / ]; then
    echo "install.sh: --allow-test-hooks installs only under a scratch --root, never into /" >&2
    exit 2
  fi
elif ! bash deploy/release-guard "$binary"; then
  echo "install.sh: nothing installed" >&2
  exit 1
fi

if [ "$useradd" = 1 ] && ! id "$user" >/dev/null 2>&1; then
  useradd --system --no-create-home --home-dir /opt/jutsu --shell /usr/sbin/nologin "$user"
fi
group=$(id -gn "$user")

opt="$root/opt/jutsu"
etc="$root/etc/jutsu"
install -d -m 0755 "$opt" "$opt/config" "$opt/data" "$opt/deploy"
install -d -m 0700 -o "$user" -g "$group" "$opt/state" "$opt/logs"
install -d -m 0750 -g "$group" "$etc"
install -m 0755 "$binary" "$opt/jutsu"
# The bars jutsu reads and their corporate actions; the as-traded *.raw.csv files they were
# checked against stay in the checkout.
for file in data/*.csv; do
  case "$file" in
    *.raw.csv) ;;
    *) install -m 0644 "$file" "$opt/data/" ;;
  esac
done
install -m 0644 data/PROVENANCE.md "$opt/data/"
install -m 0644 README.md "$opt/README.md"
cp -R deploy/. "$opt/deploy/"
if [ ! -e "$opt/config/jutsu.yaml" ]; then
  install -m 0640 -g "$group" config/jutsu.yaml "$opt/config/jutsu.yaml"
fi
if [ ! -e "$etc/jutsu.env" ]; then
  install -m 0600 -o "$user" -g "$group" deploy/jutsu.env.example "$etc/jutsu.env"
fi

if [ "$systemd" = 1 ]; then
  units="$root/etc/systemd/system"
  install -d -m 0755 "$units"
  install -m 0644 deploy/systemd/*.service deploy/systemd/*.timer "$units/"
  if [ -z "$root" ] && command -v systemctl >/dev/null 2>&1; then
    systemctl daemon-reload
    systemctl enable --now jutsu-trade.timer jutsu-validate.timer jutsu-auth-check.timer \
      jutsu-review.timer
  fi
fi

cat <<DONE
jutsu is in $opt (user $user). Next:
  1. Put the Schwab app key and secret in $etc/jutsu.env (it stays mode 0600).
  2. Edit $opt/config/jutsu.yaml (mode, data.source, alerts), then check it:
       sudo -u $user $opt/jutsu -c $opt/config/jutsu.yaml config check
  3. Log in once: sudo -u $user sh -c 'set -a; . $etc/jutsu.env; cd $opt && ./jutsu auth login'
  4. sudo -u $user $opt/jutsu -c $opt/config/jutsu.yaml health
DONE
