#!/usr/bin/env bash
# Usage: bootstrap-ruby-liquid.sh
# The reference for the render bench's side-by-side run: Shopify's Liquid for Ruby with its C
# extension, from Debian (ruby-liquid, ruby-liquid-c). Idempotent: does nothing once Ruby can
# load both.
set -euo pipefail

if command -v ruby >/dev/null && ruby -e 'require "liquid"; require "liquid/c"' 2>/dev/null; then
    exit 0
fi
if [[ "$(id -u)" == 0 ]] && command -v apt-get >/dev/null; then
    echo "bootstrap-ruby-liquid: installing Debian's ruby-liquid and ruby-liquid-c" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq ruby-liquid ruby-liquid-c >/dev/null
else
    echo "bootstrap-ruby-liquid: install Debian's ruby-liquid and ruby-liquid-c (apt-get install ruby-liquid ruby-liquid-c)" >&2
    exit 1
fi
