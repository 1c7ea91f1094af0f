# SPDX-License-Identifier: LGPL-2.1-or-later OR MIT
"""A Python client of the word-count service, libmpkshm/examples/wc_service.c.

usage: wc_client.py [-b kernel|memfd] CHANNEL < TEXT

Sends its standard input as one request to the channel's server and prints
the count it answers: a 64-bit unsigned integer in the machine's byte order,
as wc_service.c replies.
"""

import argparse
import struct
import sys

import mpkshm

CALL_TIMEOUT_MS = 10000


def main():
    p = argparse.ArgumentParser(description="count words with wc_service")
    p.add_argument("-b", "--backend", choices=("kernel", "memfd"), default="kernel")
    p.add_argument("channel")
    args = p.parse_args()
    text = sys.stdin.buffer.read()
    try:
        with mpkshm.Channel(args.channel, backend=args.backend) as ch:
            server = ch.find_peer(CALL_TIMEOUT_MS)
            reply = ch.call(server, text, timeout_ms=CALL_TIMEOUT_MS, cap=8)
    except OSError as e:
        sys.exit("wc_client: %s: %s" % (args.channel, e.strerror))
    if len(reply) != 8:
        sys.exit("wc_client: %s: a reply of %d bytes" % (args.channel, len(reply)))
    print(struct.unpack("=Q", reply)[0])


if __name__ == "__main__":
    main()
