#!/usr/bin/env bash
# Clean-system test of a Linux installer, as a new user meets it: a fresh minimal Debian 12
# (clean-root.sh: debootstrap --variant=minbase, nothing else installed) gets the installer the
# way the README says, then, as an ordinary user inside that system:
#   1. `duet --version`
#   2. `duet self-test` on the starter files (copied in, DUET_STARTER_DIR)
#   3. the window on a real X11 server (Xvfb on this machine, its socket bind-mounted into the
#      system; QT_QPA_PLATFORM unset, so Qt picks xcb): it must appear, stay up for a few
#      seconds and close cleanly on SIGTERM; a screenshot is kept
#   4. the window with no model and no network: the first-run page, Hub unreachable
#   5. the window on Wayland (weston's headless backend on this machine, if installed) with
#      QT_QPA_PLATFORM=wayland: Qt's Wayland platform plugin must load and the window stay up
# The X server and weston are test harness, not part of the system under test.
#
# Usage: clean-system-test.sh deb|tar INSTALLER STARTER_DIR OUT_DIR
# Needs root (chroot, mounts), Xvfb, xdotool, xwd, ImageMagick's convert; weston for step 5.
# Prints "ok  <step>" per step and exits non-zero at the first failure, naming it.
set -euo pipefail
KIND=${1:?deb or tar}
INSTALLER=$(realpath "${2:?installer}")
STARTER=$(realpath "${3:?starter dir}")
OUT=$(realpath -m "${4:?output dir}")
HERE=$(cd "$(dirname "$0")" && pwd)
CACHE="${DUET_BUILD_CACHE:-$HOME/.cache/duet-build}"
STAY_UP=${DUET_STAY_UP:-5} # seconds the window must stay up
mkdir -p "$OUT" "$CACHE/apt-archives/partial"

ROOT=$(mktemp -d "${TMPDIR:-/var/tmp}/duet-clean.XXXXXX")
MOUNTS=()
PIDS=()
cleanup() {
  local pid m
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  for ((i = ${#MOUNTS[@]} - 1; i >= 0; i--)); do
    m=${MOUNTS[i]}
    umount -R "$m" 2>/dev/null || umount -R -l "$m" 2>/dev/null || true
  done
  # Delete the system only when nothing is mounted in it any more (never the host's /dev).
  if ! grep -q " $ROOT/" /proc/mounts; then
    rm -rf "$ROOT"
  else
    echo "clean-system-test: $ROOT still has mounts; left in place" >&2
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

fail() {
  echo "FAIL $*" >&2
  exit 1
}
bind() { # bind SRC DEST-inside-root
  mkdir -p "$ROOT$2"
  mount --rbind "$1" "$ROOT$2"
  mount --make-rslave "$ROOT$2"
  MOUNTS+=("$ROOT$2")
}

started=$SECONDS
bash "$HERE/clean-root.sh" new "$ROOT"
mount -t proc proc "$ROOT/proc" && MOUNTS+=("$ROOT/proc")
mount -t sysfs sysfs "$ROOT/sys" && MOUNTS+=("$ROOT/sys")
bind /dev /dev
# Downloaded .debs are kept between runs (only the download, never the installed state).
bind "$CACHE/apt-archives" /var/cache/apt/archives
cp -L /etc/resolv.conf "$ROOT/etc/resolv.conf"
in_root() { chroot "$ROOT" "$@"; }
echo "clean system ready in $((SECONDS - started)) s: $(. "$ROOT/etc/os-release"; echo "$PRETTY_NAME"), $(in_root dpkg-query -W | wc -l) packages"

# Install as the README says.
export DEBIAN_FRONTEND=noninteractive
APT=(apt-get -o APT::Sandbox::User=root -o Dpkg::Use-Pty=0 -q -y)
timeout 600 chroot "$ROOT" "${APT[@]}" update >"$OUT/apt-update.log" 2>&1 \
  || { tail -n 20 "$OUT/apt-update.log" >&2; fail "apt-get update in the clean system"; }
t0=$SECONDS
case "$KIND" in
  deb)
    cp "$INSTALLER" "$ROOT/tmp/"
    timeout 900 chroot "$ROOT" "${APT[@]}" install "/tmp/$(basename "$INSTALLER")" \
      >"$OUT/install.log" 2>&1 || { tail -n 30 "$OUT/install.log" >&2; fail "apt install ./$(basename "$INSTALLER")"; }
    DUET=/usr/bin/duet
    ;;
  tar)
    mkdir -p "$ROOT/opt"
    tar -C "$ROOT/opt" -xzf "$INSTALLER"
    # The packages the tarball's own instructions name (INSTALL.txt: "apt install ...").
    line=$(grep -m1 -E '^ *sudo apt install ' "$ROOT/opt/duet/INSTALL.txt") \
      || fail "duet/INSTALL.txt names no 'sudo apt install' line"
    read -ra packages <<<"${line#*apt install }"
    timeout 900 chroot "$ROOT" "${APT[@]}" install "${packages[@]}" >"$OUT/install.log" 2>&1 \
      || { tail -n 30 "$OUT/install.log" >&2; fail "apt install of the packages INSTALL.txt names"; }
    DUET=/opt/duet/duet
    ;;
  *) fail "unknown kind $KIND (deb or tar)" ;;
esac
echo "ok  installed ($KIND) in $((SECONDS - t0)) s: $(in_root dpkg-query -W | wc -l) packages now"

# An ordinary user, with the starter files copied into their home.
in_root useradd -m -s /bin/sh duetuser
uid=$(in_root id -u duetuser)
mkdir -p "$ROOT/home/duetuser/starter"
cp "$STARTER"/*.gguf "$ROOT/home/duetuser/starter/"
chroot "$ROOT" chown -R duetuser:duetuser /home/duetuser
# "${AS_USER[@]}" [VAR=value...] command...: a login-like environment, nothing from this one.
AS_USER=(chroot --userspec=duetuser:duetuser "$ROOT" env -i HOME=/home/duetuser USER=duetuser
  LOGNAME=duetuser PATH=/usr/local/bin:/usr/bin:/bin LANG=C.UTF-8)
as_user() { "${AS_USER[@]}" "$@"; }

out=$(as_user timeout 120 "$DUET" --version 2>&1) || fail "duet --version: $out"
[[ "$out" =~ ^duet\ [0-9] ]] || fail "duet --version printed: $out"
echo "ok  duet --version: $out"

as_user DUET_STARTER_DIR=/home/duetuser/starter timeout 600 "$DUET" self-test >"$OUT/self-test.txt" 2>&1 \
  || { cat "$OUT/self-test.txt" >&2; fail "duet self-test"; }
grep -q "self-test passed" "$OUT/self-test.txt" || fail "duet self-test did not pass"
echo "ok  duet self-test: $(grep -c '^ok  ' "$OUT/self-test.txt") models generated"

# X11 ---------------------------------------------------------------------------------------
Xvfb -displayfd 3 -screen 0 1280x800x24 -nolisten tcp 3>"$OUT/xvfb.display" >"$OUT/xvfb.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 100); do [ -s "$OUT/xvfb.display" ] && break; sleep 0.1; done
display=":$(tr -d '\n' <"$OUT/xvfb.display")"
[ "$display" != ":" ] || fail "Xvfb did not start: $(cat "$OUT/xvfb.log")"
bind /tmp/.X11-unix /tmp/.X11-unix

# window NAME EXTRA-ENV...: start the window, wait for it on $display, keep it up, screenshot, close.
window() {
  local name=$1 log="$OUT/$1.stderr" pid wid geometry colours
  shift
  "${AS_USER[@]}" DISPLAY="$display" DUET_PRINT_STARTUP=1 "$@" "$DUET" 2>"$log" >/dev/null &
  pid=$!
  PIDS+=("$pid")
  wid=
  for _ in $(seq 240); do # up to 2 minutes; a process that died fails at once
    kill -0 "$pid" 2>/dev/null || { cat "$log" >&2; fail "$name: Duet exited before its window appeared"; }
    wid=$(DISPLAY="$display" xdotool search --onlyvisible --name '^Duet$' 2>/dev/null | head -n1 || true)
    [ -n "$wid" ] && break
    sleep 0.5
  done
  [ -n "$wid" ] || { cat "$log" >&2; fail "$name: no Duet window appeared in 2 minutes"; }
  sleep "$STAY_UP"
  kill -0 "$pid" 2>/dev/null || { cat "$log" >&2; fail "$name: Duet exited within ${STAY_UP} s"; }
  # Still there: a Duet window (Qt may have replaced the first native window meanwhile).
  wid=$(DISPLAY="$display" xdotool search --onlyvisible --name '^Duet$' 2>/dev/null | head -n1 || true)
  [ -n "$wid" ] || fail "$name: no Duet window is visible after ${STAY_UP} s"
  DISPLAY="$display" xwininfo -id "$wid" 2>&1 | grep -q 'Map State: IsViewable' \
    || fail "$name: the window is no longer viewable"
  geometry=$(DISPLAY="$display" xwininfo -id "$wid" | awk '/Width:/ {w=$2} /Height:/ {h=$2} END {print w "x" h}')
  xwd -root -silent -display "$display" | /usr/bin/convert xwd:- "png:$OUT/$name.png"
  colours=$(/usr/bin/convert "$OUT/$name.png" -format %k info:)
  [ "$colours" -gt 16 ] || fail "$name: the screenshot is blank ($colours colours)"
  kill -TERM "$pid"
  timeout 60 tail --pid="$pid" -f /dev/null || fail "$name: Duet did not close on SIGTERM"
  wait "$pid" || fail "$name: Duet exited with $? on SIGTERM"
  grep -q "window shown after" "$log" || fail "$name: no start-up line"
  echo "ok  $name: window $geometry stayed up ${STAY_UP} s, $colours colours, closed cleanly ($(grep -o 'window shown after [0-9]* ms' "$log"))"
}

window x11 DUET_STARTER_DIR=/home/duetuser/starter
# The starter pair is there and nothing was run yet: the first start opens on the welcome page.
grep -q "welcome page:" "$OUT/x11.stderr" || fail "x11: the welcome page was not shown on the first start"
grep "welcome page:" "$OUT/x11.stderr" | sed 's/^/    /'
# No model, no network (the Hub's address answers nothing): the first-run page.
window x11-first-run HF_ENDPOINT=http://127.0.0.1:9 DUET_HOME=/home/duetuser/empty-home
grep -q "first-run page:" "$OUT/x11-first-run.stderr" || fail "x11-first-run: the first-run page was not shown"
grep "first-run page:" "$OUT/x11-first-run.stderr" | sed 's/^/    /'

# Wayland -----------------------------------------------------------------------------------
if command -v weston >/dev/null; then
  runtime="$ROOT/tmp/xdg-duetuser"
  install -d -m 700 -o "$uid" -g "$uid" "$runtime"
  setpriv --reuid="$uid" --regid="$uid" --clear-groups env XDG_RUNTIME_DIR="$runtime" \
    weston --backend=headless-backend.so --socket=duet-wayland --width=1280 --height=800 \
    --idle-time=0 --use-pixman --debug >"$OUT/weston.log" 2>&1 &
  PIDS+=($!)
  for _ in $(seq 100); do [ -S "$runtime/duet-wayland" ] && break; sleep 0.1; done
  [ -S "$runtime/duet-wayland" ] || fail "weston did not start: $(cat "$OUT/weston.log")"
  log="$OUT/wayland.stderr"
  "${AS_USER[@]}" XDG_RUNTIME_DIR=/tmp/xdg-duetuser WAYLAND_DISPLAY=duet-wayland QT_QPA_PLATFORM=wayland \
    QT_DEBUG_PLUGINS=1 DUET_PRINT_STARTUP=1 DUET_STARTER_DIR=/home/duetuser/starter "$DUET" \
    2>"$log" >/dev/null &
  pid=$!
  PIDS+=("$pid")
  for _ in $(seq 600); do grep -q "window shown after" "$log" && break; kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
  grep -q "window shown after" "$log" || { tail -n 30 "$log" >&2; fail "wayland: the window was not shown"; }
  grep -qE 'platforms/libqwayland[^"]*" loaded library' "$log" \
    || { grep -v '^qt\.core\|^ \|^[{}]\|^$' "$log" | tail -n 30 >&2; fail "wayland: Qt's Wayland platform plugin did not load"; }
  grep -qE 'wayland-shell-integration/libxdg-shell[^"]*" loaded library' "$log" \
    || fail "wayland: no xdg-shell (the desktop window protocol) was loaded"
  sleep "$STAY_UP"
  kill -0 "$pid" 2>/dev/null || { tail -n 30 "$log" >&2; fail "wayland: Duet exited within ${STAY_UP} s"; }
  # weston's screenshooter (enabled by --debug, pixman renders into memory).
  rm -f "$runtime"/wayland-screenshot-*.png
  (cd "$runtime" && setpriv --reuid="$uid" --regid="$uid" --clear-groups env XDG_RUNTIME_DIR="$runtime" \
    WAYLAND_DISPLAY=duet-wayland timeout 30 weston-screenshooter) || fail "wayland: no screenshot"
  mv "$runtime"/wayland-screenshot-*.png "$OUT/wayland.png"
  colours=$(/usr/bin/convert "$OUT/wayland.png" -format %k info:)
  [ "$colours" -gt 64 ] || fail "wayland: the screenshot is nearly blank ($colours colours)"
  kill -TERM "$pid"
  timeout 60 tail --pid="$pid" -f /dev/null || fail "wayland: Duet did not close on SIGTERM"
  wait "$pid" || fail "wayland: Duet exited with $? on SIGTERM"
  echo "ok  wayland: libqwayland.so and libxdg-shell.so loaded, window stayed up ${STAY_UP} s, $colours colours, closed cleanly ($(grep -o 'window shown after [0-9]* ms' "$log"))"
else
  echo "skip wayland: weston is not installed on this machine"
fi
echo "clean-system test of $(basename "$INSTALLER") passed in $((SECONDS - started)) s"
