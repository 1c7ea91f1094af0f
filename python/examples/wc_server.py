# SPDX-License-Identifier: LGPL-2.1-or-later OR MIT
"""A Python word-count server that wc_service.c's client talks to.

usage: wc_server.py [-b kernel|memfd] [-n REQUESTS] CHANNEL

Answers each request with its number of words (runs of bytes that are not
white space, as wc -w counts them in the C locale) as a 64-bit unsigned
integer in the machine's byte order, the reply of
libmpkshm/examples/wc_service.c, and stops after REQUESTS requests
(default: never).  Prints "serving CHANNEL" when clients can call.
"""

import argparse
import struct
import sys

import mpkshm


def count_words(data):
    # bytes.split() splits on the C locale's white space, as isspace() does.
    return len(data.split())


def main():
    p = argparse.ArgumentParser(description="serve word counts")
    p.add_argument("-b", "--backend", choices=("kernel", "memfd"), default="kernel")
    p.add_argument("-n", "--requests", type=int, default=0)
    p.add_argument("channel")
    args = p.parse_args()
    try:
        with mpkshm.Channel(args.channel, backend=args.backend,
                            create=args.backend == "memfd") as ch:
            served = 0

            def handle(request, client):
                nonlocal served
                served += 1
                if args.requests and served == args.requests:
                    ch.serve_stop()  # after this reply
                return struct.pack("=Q", count_words(request))
            print("serving %s (%s)" % (args.channel, ch.info().protection_string),
                  flush=True)
            ch.serve(handle)
    except OSError as e:
        sys.exit("wc_server: %s: %s" % (args.channel, e.strerror))


if __name__ == "__main__":
    main()
