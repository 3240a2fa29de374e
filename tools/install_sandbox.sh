#!/bin/sh
# Make sure bubblewrap (bwrap), the grader's OS sandbox, is installed: `make env` runs this.
# As root with apt-get (CI, a fresh Debian/Ubuntu machine) it installs the Debian package `bubblewrap`;
# otherwise it only says what to install. It never fails the set-up: without bwrap only grading stops
# (the grader refuses to run submissions unless told --unsafe-no-sandbox).
command -v bwrap >/dev/null 2>&1 && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing bubblewrap (the grader's sandbox) with apt-get"
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -qq bubblewrap >/dev/null 2>&1 ||
        { apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq bubblewrap >/dev/null 2>&1; } ||
        echo "warning: apt-get could not install bubblewrap; the grader will refuse to grade without it" >&2
else
    echo "note: bubblewrap (bwrap) is not installed; instructors need it to grade submissions:" \
         "sudo apt-get install bubblewrap (Debian/Ubuntu) or sudo dnf install bubblewrap (Fedora)" >&2
fi
exit 0
