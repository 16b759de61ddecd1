#!/bin/sh
# Installs the servers and checkers the test suite runs for real: Prometheus with promtool,
# the Pushgateway and Alertmanager with amtool, PostgreSQL (the incident register's server;
# libpq5 is what psycopg talks through), Chromium (prints the regulator reports to PDF and is
# the browser their tests read them in), poppler-utils (pdftotext/pdftoppm, to read the PDF
# back) and a Hangul font, from Debian's packages. Does nothing when they are already there;
# uses sudo only when not root.
set -eu
need=""
command -v promtool >/dev/null 2>&1 || need="$need prometheus"
command -v prometheus-pushgateway >/dev/null 2>&1 || need="$need prometheus-pushgateway"
command -v amtool >/dev/null 2>&1 || need="$need prometheus-alertmanager"
command -v chromium >/dev/null 2>&1 || need="$need chromium"
command -v pdftotext >/dev/null 2>&1 || need="$need poppler-utils"
# Zone and area names are often Korean: without a Hangul font the PDF would show empty boxes.
[ -n "$(fc-list :lang=ko 2>/dev/null)" ] || need="$need fonts-noto-cjk"
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need="$need postgresql"
ldconfig -p 2>/dev/null | grep -q 'libpq\.so\.5' || need="$need libpq5"
[ -z "$need" ] && exit 0
if [ "$(id -u)" -ne 0 ]; then sudo=sudo; else sudo=""; fi
$sudo apt-get update -qq
# The packages' own services are not wanted: tests start the servers on 127.0.0.1 themselves
# (Debian's postgresql starts a cluster of its own; the tests never use it).
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends $need >/dev/null
